"""`cellctl config check PATH...`"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="check site and station config files")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser(
        "check",
        help="print every problem in the given site/station files; exit 1 if any",
        description="Check site and station TOML files (a site also checks its stations).",
    )
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from cellctl.site.check import check_paths

    problems = check_paths(args.paths)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) found")
        return 1
    print(f"ok: {len(args.paths)} file(s) checked, no problems")
    return 0
