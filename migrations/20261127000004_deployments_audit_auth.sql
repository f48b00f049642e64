-- What deploy-winner rolled out: which configuration, to which target, to what share.
-- Deploying again with a higher percentage adds a row; the newest row is in force.
create table deployments (
    id                 uuid primary key,
    experiment_id      uuid not null references experiments (id),
    tenant_id          text not null,
    target_type        text not null,
    target_id          text not null,
    winner             text not null check (winner in ('control', 'treatment')),
    configuration      jsonb not null check (jsonb_typeof(configuration) = 'object'),
    rollout_percentage smallint not null check (rollout_percentage between 1 and 100),
    -- Salt of the rollout hash, kept per experiment so a wider rollout keeps earlier users.
    salt               text not null,
    notes              text not null default '',
    deployed_by        text not null,
    deployed_at        timestamptz not null default now()
);
create index deployments_experiment_idx on deployments (experiment_id, deployed_at desc);
create index deployments_target_idx on deployments (target_type, target_id, deployed_at desc);

-- Who did what to which experiment, with what changed. Written in the same transaction
-- as the change itself.
create table audit_log (
    id            bigint generated always as identity primary key,
    tenant_id     text not null,
    experiment_id uuid references experiments (id),
    actor         text not null,
    action        text not null,
    before        jsonb,
    after         jsonb,
    at            timestamptz not null default now()
);
create index audit_log_experiment_idx on audit_log (experiment_id, at);

-- Bearer tokens. Only a SHA-256 of the token is stored; the token is shown once.
create table api_tokens (
    id           uuid primary key,
    token_hash   bytea not null unique,
    -- The first characters of the token, to tell tokens apart in listings.
    prefix       text not null,
    role         text not null check (role in ('super_admin', 'admin', 'viewer', 'service')),
    -- NULL only for a super_admin that spans all tenants.
    tenant_id    text,
    label        text not null default '',
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at   timestamptz,
    check (tenant_id is not null or role = 'super_admin')
);

-- Browser sessions made by signing in with a token. Only a hash of the cookie is stored.
create table sessions (
    id_hash     bytea primary key,
    token_id    uuid not null references api_tokens (id) on delete cascade,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);
create index sessions_token_idx on sessions (token_id);
