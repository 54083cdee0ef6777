"""`pim media ingest | renditions | problems` end to end, against the test's database and PIM_HOME."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from media.errors import MediaConfigError
from pim.cli import _mount, app
from tests import images

_mount()
runner = CliRunner()

MEDIA_YAML = """
channels:
  ecommerce:
    min_width: 50
    renditions:
      - {name: thumb, max_width: 40, max_height: 40, fit: crop, format: WEBP, quality: 80}
      - {name: zoom, max_width: 200, max_height: 200, format: JPEG}
"""


def invoke(*args: str) -> dict | list:
    result = runner.invoke(app, ["media", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_build_renditions_and_list_problems(pim_env: Path, tmp_path: Path) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text(MEDIA_YAML)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in {"a.jpg": images.jpeg(120, 90), "b.png": images.png(30, 30), "c.jpg": images.text_as_jpg()}.items():
        (folder / name).write_bytes(data)

    counts = invoke("ingest", "a.jpg", "b.png", "c.jpg", "--base", str(folder))
    assert (counts["valid"], counts["rejected"]) == (2, 1)

    built = invoke("renditions", "--channel", "ecommerce")
    assert (built["assets"], built["renditions"]) == (1, 2)  # b.png is below the channel's 50px minimum
    assert invoke("renditions", "--channel", "ecommerce")["renditions"] == 0
    assert len(list((pim_env / "media" / "renditions").rglob("*.webp"))) == 1

    reasons = {row["ref"]: row["reason"] for row in invoke("problems", "--channel", "ecommerce")}
    assert reasons == {"c.jpg": "not an image (no known image format recognised)",
                       "b.png": "ecommerce: width 30px < 50px"}


def test_renditions_for_an_undeclared_channel_is_a_config_error(pim_env: Path) -> None:
    result = runner.invoke(app, ["media", "renditions", "--channel", "print"])
    assert isinstance(result.exception, MediaConfigError)
    assert "channel 'print' declares no media rules" in str(result.exception)


def test_bad_media_yaml_names_the_file_and_field(pim_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "media.yaml"
    bad.write_text("channels:\n  ecommerce:\n    renditions:\n      - {name: thumb, max_width: 0, max_height: 10}\n")
    result = runner.invoke(app, ["media", "problems", "--config", str(bad)])
    assert isinstance(result.exception, MediaConfigError)
    assert "[channels.ecommerce.renditions.0.max_width]" in str(result.exception)
