"""The OpenFeature Python SDK with its OFREP provider (both unmodified, from PyPI) against a
live Verdict: run by .ci/ofrep, which starts the server and makes the experiments
(.ci/ofrep_setup.py). Every check compares what the SDK hands the application with what
Verdict's own /resolve answers for the same user. Exits non-zero on any mismatch; its last
line is `python: N passed, M failed`.

Environment: VERDICT_URL, VERDICT_TOKEN (a service token of tenant acme), VERDICT_FLAGS (the
JSON .ci/ofrep_setup.py printed), OFREP_USERS (default 10000)."""

import json
import os
import sys

import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

BASE = os.environ["VERDICT_URL"]
TOKEN = os.environ["VERDICT_TOKEN"]
FLAGS = json.loads(os.environ["VERDICT_FLAGS"])
USERS = int(os.environ.get("OFREP_USERS", "10000"))
DEFAULT = {"caller": "default"}

passed, failed = 0, 0
session = requests.Session()


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def resolve(user, intent=None):
    """What /resolve gives `user`, by target id."""
    body = {"tenantId": "acme", "userId": user}
    if intent:
        body["intent"] = intent
    response = session.post(f"{BASE}/api/v1/insights/resolve", json=body,
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    response.raise_for_status()
    return {a["targetId"]: a for a in response.json()["assignments"]}


def client_with(headers):
    """An OpenFeature client whose OFREP provider sends `headers`."""
    domain = json.dumps(headers)
    api.set_provider(OFREPProvider(BASE, headers_factory=lambda: headers), domain)
    return api.get_client(domain)


client = client_with({"Authorization": f"Bearer {TOKEN}"})
target_of = {key: key.split(":", 1)[1] for key in (FLAGS["split"], FLAGS["aimed"], FLAGS["winner"])}

# 1. Every user gets the arm and configuration /resolve gives them, reason SPLIT.
mismatches = []
arms = {"control": 0, "treatment": 0}
for i in range(USERS):
    user = f"py-user-{i}"
    expected = resolve(user)[target_of[FLAGS["split"]]]
    got = client.get_object_details(FLAGS["split"], DEFAULT, EvaluationContext(user))
    arms[got.variant] = arms.get(got.variant, 0) + 1
    if (got.variant, got.value, got.reason, got.flag_metadata.get("experimentId")) != (
        expected["variant"], expected["configuration"], Reason.SPLIT, expected["experimentId"]
    ):
        mismatches.append((user, got, expected))
check(f"{USERS} users get exactly the variant and configuration /resolve gives them",
      not mismatches, repr(mismatches[:3]))
check("both arms are served", min(arms.values()) > USERS // 3, repr(arms))

# 2. A user the experiment does not target gets the caller's default, reason DEFAULT.
untargeted = client.get_object_details(
    FLAGS["aimed"], DEFAULT, EvaluationContext("py-untargeted", {"intent": "summary"}))
check("an untargeted user gets the caller's default with reason DEFAULT",
      untargeted.value == DEFAULT and untargeted.reason == Reason.DEFAULT
      and untargeted.error_code is None and target_of[FLAGS["aimed"]] not in
      resolve("py-untargeted", "summary"), repr(untargeted))
targeted = client.get_object_details(
    FLAGS["aimed"], DEFAULT, EvaluationContext("py-untargeted", {"intent": "risk"}))
expected = resolve("py-untargeted", "risk")[target_of[FLAGS["aimed"]]]
check("the context's intent targets as resolve's does",
      targeted.reason == Reason.SPLIT and targeted.value == expected["configuration"],
      repr(targeted))

# 3. A deployed winner is served at its rollout percentage, STATIC, as /resolve serves it.
served, wrong = 0, []
N = 3000
for i in range(N):
    user = f"py-rollout-{i}"
    expected = resolve(user).get(target_of[FLAGS["winner"]])
    got = client.get_object_details(FLAGS["winner"], DEFAULT, EvaluationContext(user))
    if expected is None:
        ok = got.value == DEFAULT and got.reason == Reason.DEFAULT
    else:
        served += 1
        ok = (got.value, got.reason, got.variant, got.flag_metadata) == (
            expected["configuration"], Reason.STATIC, "treatment",
            {"experimentId": FLAGS["winnerExperiment"], "deployed": True})
    if not ok:
        wrong.append((user, got, expected))
check(f"a deployed winner: each of {N} users gets what /resolve serves", not wrong, repr(wrong[:3]))
share = served / N
check(f"a deployed winner is served to its rollout share ({FLAGS['rollout']} %): {share:.1%}",
      abs(share - FLAGS["rollout"] / 100) < 0.03)

# 4. The SDK's documented errors: a bad token, an unknown flag, a missing targeting key.
bad = client_with({"Authorization": "Bearer vdt_" + "0" * 64}).get_object_details(
    FLAGS["split"], DEFAULT, EvaluationContext("py-user-1"))
check("a bad token: GENERAL (unauthorized), the caller's default",
      bad.error_code == ErrorCode.GENERAL and bad.reason == Reason.ERROR
      and bad.value == DEFAULT and "unauthorized" in (bad.error_message or ""), repr(bad))
unknown = client.get_object_details("prompt:no-such-target", DEFAULT, EvaluationContext("u"))
check("an unknown flag: FLAG_NOT_FOUND, the caller's default",
      unknown.error_code == ErrorCode.FLAG_NOT_FOUND and unknown.value == DEFAULT,
      repr(unknown))
anonymous = client.get_object_details(FLAGS["split"], DEFAULT, EvaluationContext())
check("no targeting key: TARGETING_KEY_MISSING, the caller's default",
      anonymous.error_code == ErrorCode.TARGETING_KEY_MISSING and anonymous.value == DEFAULT,
      repr(anonymous))
wrong_type = client.get_object_details(
    FLAGS["split"], DEFAULT, EvaluationContext("py-user-1", {"intent": 42}))
check("an attribute of the wrong type: INVALID_CONTEXT naming it",
      wrong_type.error_code == ErrorCode.INVALID_CONTEXT
      and "intent" in (wrong_type.error_message or ""), repr(wrong_type))

# 5. The token in X-API-Key (OFREP's other scheme) answers the same.
by_key = client_with({"X-API-Key": TOKEN}).get_object_details(
    FLAGS["split"], DEFAULT, EvaluationContext("py-user-1"))
by_bearer = client.get_object_details(FLAGS["split"], DEFAULT, EvaluationContext("py-user-1"))
check("X-API-Key answers as Authorization: Bearer",
      (by_key.value, by_key.variant) == (by_bearer.value, by_bearer.variant)
      and by_key.error_code is None, repr(by_key))

print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
