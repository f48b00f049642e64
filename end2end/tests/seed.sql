-- Data for the end-to-end tests (until the REST API can create experiments). The arms are
-- `variants` (migration 18): [{key, name, configuration, share}], the control first. A live
-- experiment holds a slice of its layer (migration 19): the whole layer here.
insert into experiments (tenant_id, id, name, description, hypothesis, target_type, target_id,
    variants, primary_metric,
    success_metric, success_operator, success_threshold, confidence_level, status, start_date,
    min_duration_days, min_samples_per_variant, created_by, salt, created_at,
    layer_slice_start, layer_slice_end)
values
  ('system', '018f0000-0000-7000-8000-000000000001', 'Risk analysis context v2',
   'More historical project data in the context', 'Quality improves by 15%',
   'context_template', 'risk-analysis',
   '[{"key": "control", "name": "Current", "configuration": {}, "share": 50},
     {"key": "treatment", "name": "With history", "configuration": {}, "share": 50}]',
   'quality', 'quality',
   '>', 5, 0.95, 'active', now() - interval '3 days', 7, 1000, 'seed', 'a1', now() - interval '3 days',
   0, 10000),
  ('acme', '018f0000-0000-7000-8000-000000000002', 'Prompt tone experiment',
   'A friendlier system prompt', 'Satisfaction rises', 'prompt', 'support-prompt',
   '[{"key": "control", "name": "Neutral", "configuration": {}, "share": 50},
     {"key": "treatment", "name": "Friendly", "configuration": {}, "share": 50}]',
   'satisfaction', 'satisfaction', '>', 3, 0.95, 'draft', null, 7, 500,
   'seed', 'b2', now() - interval '2 days', null, null),
  ('acme', '018f0000-0000-7000-8000-000000000003', 'Smaller model for summaries',
   'Try the cheaper model', 'Cost drops, quality holds', 'model_selection', 'summaries',
   '[{"key": "control", "name": "Large", "configuration": {}, "share": 10},
     {"key": "treatment", "name": "Small", "configuration": {}, "share": 10}]',
   'cost', 'cost', '<', 20, 0.9, 'draft', null, 14, 2000, 'seed', 'c3',
   now() - interval '1 day', null, null);
