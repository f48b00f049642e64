"""Creates, through the REST API of a live server, the experiments .ci/ofrep's OpenFeature
checks evaluate, and prints their flag keys as JSON:
  split   — tenant acme, 50/50, no targeting (every user is in an arm)
  aimed   — tenant acme, 50/50, only intent "risk" (anyone else gets the caller's default)
  winner  — tenant acme, treatment deployed to 30 % of users
Usage: python3 .ci/ofrep_setup.py BASE_URL SUPER_ADMIN_TOKEN"""

import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


def experiment(name, target_type, target_id, control, treatment, targeting=None):
    body = {
        "tenantId": "acme",
        "name": name,
        "description": "Made by .ci/ofrep for the OpenFeature SDK checks",
        "hypothesis": "The OpenFeature SDKs see exactly what resolve answers",
        "targetType": target_type,
        "targetId": target_id,
        "control": {"name": "Current", "configuration": control},
        "treatment": {"name": "New", "configuration": treatment},
        "allocation": {"control": 50, "treatment": 50},
        "targeting": targeting or {},
        "primaryMetric": "quality",
        "successCriteria": {"metric": "quality", "operator": ">", "threshold": 5,
                            "confidenceLevel": 0.95},
        "minDuration": 7,
        "minSamplesPerVariant": 1000,
    }
    created = call("POST", "/api/v1/admin/insights/experiments", body)
    experiment_id = created["experimentId"]
    call("POST", f"/api/v1/admin/insights/experiments/{experiment_id}/start", {})
    return experiment_id, f"{target_type}:{target_id}"


split_id, split = experiment(
    "Checkout summary prompt", "prompt", "checkout-summary",
    {"prompt": "Summarise the order in one line.", "temperature": 0.2},
    {"prompt": "Summarise the order, then suggest one add-on.", "temperature": 0.4},
)
_, aimed = experiment(
    "Risk context", "context_template", "risk-analysis",
    {"templateId": "risk-v1"}, {"templateId": "risk-v2"},
    targeting={"intents": ["risk"]},
)
winner_id, winner = experiment(
    "Answer model", "model_selection", "answer-model",
    {"model": "small"}, {"model": "large"},
)
path = f"/api/v1/admin/insights/experiments/{winner_id}"
call("POST", f"{path}/declare-winner", {"winner": "treatment"})
call("POST", f"{path}/deploy-winner", {"winner": "treatment", "rolloutPercentage": 30})
print(json.dumps({"split": split, "splitExperiment": split_id, "aimed": aimed,
                  "winner": winner, "winnerExperiment": winner_id, "rollout": 30}))
