"""Stage group: group sources by the centroids of their record embeddings.

Reads: data/embeddings/. Writes: data/groups/ (groups.parquet, similarity.parquet, similarity.png), metrics/group.json.
The held-out sources (select.held_out_sources) are not clustered: each joins the group nearest to it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.common import run_log, stage_main, states
from flows.publish import publish_table
from mira_core.config import CacheParams, GroupParams, Params
from mira_core.errors import ConfigError
from mira_core.io import write_json
from mira_core.layout import Layout
from tasks.caching import cached, submit
from tasks.group import group_one


@flow(name="group")
def group_flow(p: GroupParams, cache: CacheParams, root: str, held_out: tuple[str, ...] = ()) -> dict:
    lay = Layout(Path(root))
    if not any(lay.embeddings.glob("*/part-*.parquet")):
        raise ConfigError(f"{lay.embeddings}: no embeddings (run the embed stage first)")
    with run_log(lay, "group") as log:
        fut = submit(cached(group_one, cache, lay.root), lay.embeddings, p, out=lay.groups, held_out=tuple(held_out))
        info = fut.result()
        log["tasks"] = states([fut])
        write_json(info, lay.metrics_file("group"))
    publish_table("group-map", f"Source groups ({info['method']})", ["group", "sources"],
                  [[g, ", ".join(s)] for g, s in info["groups"].items()])
    print(f"group: {len(info['groups'])} groups by {info['method']}: "
          + "; ".join(f"{g}: {', '.join(s)}" for g, s in info["groups"].items()))
    return info


def run(params: Params, root: Path) -> dict:
    return group_flow(params.group, params.cache, str(root), tuple(params.select.held_out_sources))


def main(argv: list[str] | None = None) -> None:
    stage_main(run, "group", argv)


if __name__ == "__main__":
    main()
