"""Verdict from a Python AI service with no Verdict SDK: the configuration comes through
OpenFeature (its OFREP provider), and the outcome goes to Verdict's REST events API.

    pip install -r examples/python/requirements.txt
    VERDICT_URL=http://127.0.0.1:3000 VERDICT_TOKEN=<a service token> \\
        python3 examples/python/feedback.py [flag key] [user id]

The flag key is `targetType:targetId` (default `prompt:checkout-summary`). For a user in an
experiment (reason SPLIT) it sends a feedback event — quality, latency, tokens, cost,
satisfaction — with an idempotency key, then sends it again as a retry would: Verdict stores
it once ("stored", then "duplicate"). OpenFeature's `track` is not used: the OFREP providers
do not send tracking events (see docs/OPENFEATURE.md). Prints one JSON line of what happened;
exits non-zero if Verdict refused anything."""

import json
import os
import sys
import time
import uuid

import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import Reason

VERDICT = os.environ.get("VERDICT_URL", "http://127.0.0.1:3000")
TOKEN = os.environ["VERDICT_TOKEN"]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FLAG = sys.argv[1] if len(sys.argv) > 1 else "prompt:checkout-summary"
USER = sys.argv[2] if len(sys.argv) > 2 else "customer-42"

# What the product does when Verdict has nothing for this user (or cannot be reached).
DEFAULT_CONFIG = {"prompt": "Summarise the order.", "temperature": 0.2}

api.set_provider(OFREPProvider(VERDICT, headers_factory=lambda: HEADERS))
client = api.get_client("checkout")


def generate(config, question):
    """Stands in for the model call: what a real service would send to its LLM."""
    started = time.monotonic()
    answer = f"{config['prompt']} ({question})"
    latency_ms = (time.monotonic() - started) * 1000 + 850  # plus the model's own time
    return answer, latency_ms, 412, 0.0031


def send_feedback(experiment_id, conversation_id, latency_ms, tokens, cost):
    """One feedback event; the idempotency key makes a retry harmless."""
    event = {
        "userId": USER,
        "eventType": "feedback",
        "metrics": {"quality": 0.86, "latency": latency_ms, "tokensUsed": tokens,
                    "cost": cost, "userSatisfaction": "positive"},
        "context": {"conversationId": conversation_id, "intent": "checkout"},
        "idempotencyKey": f"{conversation_id}-feedback",
    }
    response = requests.post(
        f"{VERDICT}/api/v1/insights/experiments/{experiment_id}/events",
        json=event, headers=HEADERS, timeout=10)
    response.raise_for_status()
    return response.json()["status"]


details = client.get_object_details(
    FLAG, DEFAULT_CONFIG, EvaluationContext(USER, {"intent": "checkout"}))
answer, latency_ms, tokens, cost = generate(details.value, "order #1001")

def name(value):
    """An OpenFeature enum's wire name (or None)."""
    return getattr(value, "value", value)


outcome = {"flag": FLAG, "user": USER, "variant": details.variant,
           "reason": name(details.reason), "errorCode": name(details.error_code),
           "configuration": details.value, "events": []}
if details.reason == Reason.SPLIT:
    conversation = str(uuid.uuid4())
    experiment = details.flag_metadata["experimentId"]
    for _ in range(2):  # the second is a retry: Verdict answers "duplicate"
        outcome["events"].append(send_feedback(experiment, conversation, latency_ms, tokens, cost))
print(json.dumps(outcome))
