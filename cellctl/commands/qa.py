"""`cellctl qa plan --lot N --level II --aql 1.0 [--severity ...] [--json]`"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("qa", help="quality: ISO 2859-1 sampling plans")
    qsub = p.add_subparsers(dest="qa_command", metavar="ACTION", required=True)
    plan = qsub.add_parser(
        "plan",
        help="the single sampling plan for a lot (ISO 2859-1 / ANSI/ASQ Z1.4)",
        description=(
            "Print the sample size code letter (Table I), the letter of the plan used after "
            "the arrows of Table II-A/B/C, the sample size n, and the acceptance and "
            "rejection numbers Ac and Re."
        ),
    )
    plan.add_argument("--lot", required=True, type=_lot, metavar="N", help="lot size")
    plan.add_argument(
        "--level", default="II", help="inspection level: S-1 S-2 S-3 S-4 I II III (default II)"
    )
    plan.add_argument("--aql", required=True, help="AQL column, e.g. 0.65, 1.0, 2.5")
    plan.add_argument(
        "--severity",
        default="normal",
        choices=("normal", "tightened", "reduced"),
        help="inspection severity (default normal)",
    )
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.set_defaults(func=_plan)


def _lot(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"lot size must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"lot size must be at least 1, got {value}")
    return value


def _plan(args: argparse.Namespace) -> int:
    from cellctl.domain.sampling import SamplingError, plan_for
    from cellctl.errors import CliError

    try:
        plan = plan_for(args.lot, args.level, args.aql, args.severity)
    except SamplingError as exc:
        raise CliError(str(exc)) from None
    all_note = (
        f"n = {plan.n} >= lot size {plan.lot_size}: inspect every unit of the lot"
        if plan.inspect_all
        else None
    )
    if args.json:
        print(json.dumps(plan.to_dict()))
        if all_note:
            print(all_note, file=sys.stderr)
        return 0
    arrow = f" (arrow {plan.arrow})" if plan.arrow else ""
    print(f"lot size     {plan.lot_size}, level {plan.level}, AQL {plan.aql}, {plan.severity}")
    print(f"code letter  {plan.code_letter}")
    print(f"plan letter  {plan.plan_letter}{arrow}")
    print(f"sample n     {plan.n}")
    print(f"accept Ac    {plan.ac}")
    print(f"reject Re    {plan.re}")
    if all_note:
        print(all_note)
    return 0
