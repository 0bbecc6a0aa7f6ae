"""The publish plan for Miosa follows its official SDK: only the fields its publish sends are taken, and a
publish over a dynamic app says that it makes a static version."""

from __future__ import annotations

import pytest

from shipdeck.api.miosa import MIOSA_CAPABILITIES
from shipdeck.live.plans import InvalidChange, plan_publish
from shipdeck.model import Deployment, PublishRequest, Version


def checkout(kind: str) -> tuple[Deployment, list[Version]]:
    deployment = Deployment(id="dep_1", provider="miosa", name="checkout-api", active_version_id="ver_5")
    versions = [
        Version(id="ver_5", deployment_id="dep_1", number=5, state="ready", kind=kind),
        Version(id="ver_4", deployment_id="dep_1", number=4, state="ready", kind=kind),
    ]
    return deployment, versions


def test_a_publish_over_a_dynamic_app_warns_that_it_makes_a_static_version() -> None:
    deployment, versions = checkout("dynamic")
    plan = plan_publish(
        deployment, PublishRequest(source_sandbox_id="sbx_1"), MIOSA_CAPABILITIES, versions=versions
    )
    assert plan.warnings == [
        "v5 is a dynamic app (it runs a server); this publish makes a static version, which serves files only"
    ]
    static, versions = checkout("static")
    assert (
        plan_publish(
            static, PublishRequest(source_sandbox_id="sbx_1"), MIOSA_CAPABILITIES, versions=versions
        ).warnings
        == []
    )


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        (PublishRequest(source_sandbox_id="sbx_1", environment="preview"), "publishes into production only"),
        (PublishRequest(source_sandbox_id="sbx_1", message="m"), "does not take --message"),
        (
            PublishRequest(source_sandbox_id="sbx_1", output_path="a/../../b"),
            "--output-path must stay inside",
        ),
        (PublishRequest(source_sandbox_id="sbx_1", entrypoint=" "), "--entrypoint is empty"),
    ],
)
def test_what_miosa_publish_would_not_send_as_asked_is_refused(request_: PublishRequest, said: str) -> None:
    deployment, versions = checkout("static")
    with pytest.raises(InvalidChange, match=said):
        plan_publish(deployment, request_, MIOSA_CAPABILITIES, versions=versions)
