"""The pipeline's picture (docs/pipeline.png, drawn by `make docs`): MySQL, Debezium in Kafka Connect, Kafka, the
streaming job on Spark, the Delta table, and Prometheus with Alertmanager watching. Each box's address and
container come from the roles' manifests, so the picture follows the roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Where each box sits (x, y of its centre, in a 16 x 9 canvas), its title, the role and the service it shows.
BOXES: dict[str, tuple[float, float, str, str, str]] = {
    "mysql": (1.7, 6.2, "MySQL (MariaDB)\nbinlog ROW, GTID", "mysql", "mysql"),
    "connect": (5.55, 6.2, "Kafka Connect\nDebezium source connector", "kafka_connect", "kafka-connect"),
    "kafka": (9.4, 6.2, "Kafka (KRaft)\ntopics cdc.<db>.<table>", "kafka", "kafka"),
    "spark": (13.5, 6.2, "Spark Structured Streaming\nforeachBatch MERGE by key", "spark", "spark"),
    "delta": (13.5, 2.2, "Delta table\nChange Data Feed on", "spark", ""),
    "prometheus": (5.55, 2.2, "Prometheus\nscrapes, alert rules", "prometheus", "prometheus"),
    "alertmanager": (9.4, 2.2, "Alertmanager\nroutes alerts", "alertmanager", "alertmanager"),
    "sink": (9.4, 0.55, "webhook sink", "webhook_sink", "webhook-sink"),
}
FLOWS = [
    ("mysql", "connect", "binlog"),
    ("connect", "kafka", "change\nevents"),
    ("kafka", "spark", "Kafka\nsource"),
    ("spark", "delta", "MERGE per micro-batch\n(checkpoint + idempotent txn)"),
    ("prometheus", "alertmanager", "alerts"),
    ("alertmanager", "sink", "notifications"),
]
WATCHED = ["mysql", "connect", "kafka", "spark"]


def label(key: str, manifests: dict[str, Any]) -> str:
    _x, _y, title, role, service = BOXES[key]
    declared = manifests.get(role, {})
    if key == "delta":
        delta = declared.get("delta", {})
        return f"{title}\n{delta.get('mount', '')} (host: {Path(str(delta.get('host_dir', ''))).name}/)"
    url = declared.get("urls", {}).get(service, "")
    return f"{title}\n{url}" if url else title


def draw_pipeline(manifests: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, axes = plt.subplots(figsize=(16, 8.2))
    axes.set_xlim(0, 16)
    axes.set_ylim(-0.3, 7.8)
    axes.axis("off")
    width, height = 3.0, 1.5
    colours = {"prometheus": "#fff3e0", "alertmanager": "#fff3e0", "sink": "#fff3e0", "delta": "#e8f5e9"}
    for key, (x, y, *_rest) in BOXES.items():
        box_height = 0.8 if key == "sink" else height
        axes.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - box_height / 2),
                width,
                box_height,
                boxstyle="round,pad=0.05",
                facecolor=colours.get(key, "#e3f2fd"),
                edgecolor="#37474f",
            )
        )
        axes.text(x, y, label(key, manifests), ha="center", va="center", fontsize=9)

    def edge(start: str, end: str, text: str, style: str = "-|>", dashed: bool = False) -> None:
        (x1, y1, *_a), (x2, y2, *_b) = BOXES[start], BOXES[end]
        horizontal = abs(y1 - y2) < 0.1
        begin = (x1 + width / 2, y1) if horizontal else (x1, y1 - height / 2)
        finish = (x2 - width / 2, y2) if horizontal else (x2, y2 + (0.4 if end == "sink" else height / 2))
        axes.annotate(
            "",
            xy=finish,
            xytext=begin,
            arrowprops={"arrowstyle": style, "color": "#37474f", "linestyle": "--" if dashed else "-", "lw": 1.4},
        )
        middle = ((begin[0] + finish[0]) / 2, (begin[1] + finish[1]) / 2)
        offset = (0, 0.12) if horizontal else (0.15, 0)
        axes.text(
            middle[0] + offset[0],
            middle[1] + offset[1],
            text,
            ha="center" if horizontal else "left",
            va="bottom" if horizontal else "center",
            fontsize=8,
            color="#263238",
        )

    for start, end, text in FLOWS:
        edge(start, end, text)
    prometheus_x, prometheus_y = BOXES["prometheus"][:2]
    for key in WATCHED:
        x, y = BOXES[key][:2]
        axes.annotate(
            "",
            xy=(x, y - height / 2),
            xytext=(prometheus_x + (x - prometheus_x) * 0.1, prometheus_y + height / 2),
            arrowprops={"arrowstyle": "-|>", "color": "#ef6c00", "linestyle": ":", "lw": 1.0},
        )
    axes.text(
        0.3,
        prometheus_y,
        "Prometheus scrapes every\nservice's metrics (JMX\nexporter, mysqld, Spark)\nand alerts on them",
        fontsize=9,
        va="center",
        color="#ef6c00",
    )
    axes.text(
        0.2,
        7.55,
        "cdc-lab: a change in MySQL to a row in Delta (every address on 127.0.0.1, from the roles' manifests)",
        fontsize=12,
        weight="bold",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
