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


def test_answers_that_do_not_show_the_change_are_no_proof() -> None:
    """A 200 with {"data": {}} to a publish, [] to an env set, another domain to an add: they were printed
    as done. Each is now left to a read-back (or the server's replay of the same key)."""
    from shipdeck.live.plans import plan_domain_add, plan_env_set
    from shipdeck.model import Domain, EnvVar, PublishResult

    deployment, versions = checkout("static")
    publish = plan_publish(
        deployment, PublishRequest(source_sandbox_id="sbx_1"), MIOSA_CAPABILITIES, versions=versions
    )
    assert publish.confirms is not None
    assert publish.confirms(PublishResult()) == "shows no new version"
    other = Version(id="ver_x", deployment_id="dep_other", number=10)
    assert publish.confirms(PublishResult(version=other)) == "is about a version of dep_other, not dep_1"
    assert (
        publish.confirms(PublishResult(version=Version(id="ver_6", deployment_id="dep_1", number=6))) is None
    )
    env = plan_env_set(deployment, {"LIE1": "x", "OTHER": "y"}, "production")
    assert env.confirms is not None
    assert env.confirms([]) == "does not list LIE1, OTHER"
    assert env.confirms([EnvVar(name="OTHER"), EnvVar(name="LIE1")]) is None
    add = plan_domain_add(deployment, "b2.example.com")
    assert add.confirms is not None
    book = Domain(id="dom_1", deployment_id="dep_1", name="book.acme.test", status="active")
    assert add.confirms(book) == "is about book.acme.test, not b2.example.com"
