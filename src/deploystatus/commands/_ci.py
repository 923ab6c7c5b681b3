"""The details of a record, as CI systems tell them in the environment: what ``deploystatus
post`` fills in when a pipeline runs it (an option given on the command line wins)."""

from __future__ import annotations

from collections.abc import Mapping

# What the help and docs/cli.md say is read, a paragraph per system.
READ = (
    "GitHub Actions (GITHUB_ACTIONS=true): --revision GITHUB_SHA, --actor GITHUB_ACTOR, "
    "--link $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID.",
    "GitLab CI (GITLAB_CI=true): --revision CI_COMMIT_SHA, --actor GITLAB_USER_LOGIN, "
    "--link CI_PIPELINE_URL, --commit-time CI_COMMIT_TIMESTAMP, --version CI_COMMIT_TAG.",
    "Jenkins (JENKINS_URL set): --revision GIT_COMMIT, --link BUILD_URL.",
    "An option given wins; an empty variable gives nothing; --no-ci reads none of them.",
)


def ci_details(environ: Mapping[str, str]) -> dict[str, str]:
    """The details the environment gives, by the API's field names; empty variables give
    nothing."""

    def value(name: str) -> str | None:
        return environ.get(name, "").strip() or None

    found: dict[str, str | None] = {}
    if value("GITHUB_ACTIONS") == "true":
        server, repository, run = (
            value("GITHUB_SERVER_URL"),
            value("GITHUB_REPOSITORY"),
            value("GITHUB_RUN_ID"),
        )
        # The run's page. GitHub documents GITHUB_RUN_ATTEMPT, but no page of its own for
        # an attempt, so the link is the run's.
        found = {
            "Revision": value("GITHUB_SHA"),
            "Actor": value("GITHUB_ACTOR"),
            "Link": f"{server}/{repository}/actions/runs/{run}"
            if server and repository and run
            else None,
        }
    elif value("GITLAB_CI") == "true":
        found = {
            "Version": value("CI_COMMIT_TAG"),
            "Revision": value("CI_COMMIT_SHA"),
            "Actor": value("GITLAB_USER_LOGIN"),
            "Link": value("CI_PIPELINE_URL"),
            "CommitTimestamp": value("CI_COMMIT_TIMESTAMP"),
        }
    elif value("JENKINS_URL") is not None:
        found = {"Revision": value("GIT_COMMIT"), "Link": value("BUILD_URL")}
    return {name: text for name, text in found.items() if text is not None}


def record_details(options: Mapping[str, str | None], environ: Mapping[str, str]) -> dict[str, str]:
    """What ``post`` sends: the CI's details, each option given over them. An empty option
    counts as not given (``--version "$TAG"`` with no tag leaves the CI's, if any), as the
    API takes an empty detail as absent. ``--no-ci`` is an empty ``environ``."""
    details = ci_details(environ)
    details.update({name: value for name, value in options.items() if value})
    return details
