"""Prompt-injection suite (AgentDojo style): utility, utility under attack and attack success rate per agent,
model and tool policy, with Wilson 95% intervals.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/injection.py                 # scripted obeying model only
    HF_HUB_OFFLINE=1 .venv/bin/python bench/injection.py --real          # and the packaged default model

The policy modes are `ToolPolicy.after_untrusted`: "allow" (the policy layer off for injections), "approve"
(the user approves the side effects after others' text; their reviewer approves only what they asked for) and
"refuse". The suite lives in graphwright.evals._injection.
"""

from __future__ import annotations

import argparse
import time

from graphwright import graphs
from graphwright.evals import wilson_interval
from graphwright.evals._injection import obeying_model, run_suite

MODES = ("allow", "approve", "refuse")


def _cell(count: tuple[int, int]) -> str:
    k, n = count
    low, high = wilson_interval(k, n)
    return f"{k}/{n} = {k / n:.0%} [{low:.0%}, {high:.0%}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true", help="also run the packaged default model")
    parser.add_argument("--agents", default="react,assistant", help="comma-separated: react, assistant")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated policy modes")
    args = parser.parse_args()
    models = [("obeying (scripted)", obeying_model)]
    if args.real:
        from graphwright.models import ChatLocal

        real = ChatLocal(max_new_tokens=96)
        real.load()
        models.append(("default model", real))
    builders = {"react": graphs.build_react, "assistant": graphs.build_assistant}
    print("| agent | model | policy | utility | utility under attack | attack success | approvals | s |")
    print("|---|---|---|---|---|---|---|---|")
    for agent in args.agents.split(","):
        for label, model in models:
            for mode in args.modes.split(","):
                start = time.monotonic()
                result = run_suite(builders[agent], model, mode)
                row = [agent, label, mode, _cell(result.utility), _cell(result.utility_under_attack)]
                row += [_cell(result.attack_success), str(result.approvals), f"{time.monotonic() - start:.0f}"]
                print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
