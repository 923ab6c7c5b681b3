"""What ``deploystatus post`` reads from a CI's environment (commands/_ci.py): a pure
function of the environment, checked system by system, and how options win over it."""

from __future__ import annotations

from deploystatus.commands._ci import ci_details, record_details

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SHA": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/payments-api",
    "GITHUB_RUN_ID": "10176543210",
}


def test_github_actions() -> None:
    assert ci_details(GITHUB) == {
        "Revision": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "Actor": "octocat",
        "Link": "https://github.com/acme/payments-api/actions/runs/10176543210",
    }


def test_github_actions_without_a_whole_run_url_has_no_link() -> None:
    partial = {**GITHUB, "GITHUB_RUN_ID": ""}
    assert "Link" not in ci_details(partial)
    assert ci_details(partial)["Actor"] == "octocat"


def test_gitlab_ci() -> None:
    gitlab = {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": "1f2e3d4c",
        "GITLAB_USER_LOGIN": "jdoe",
        "CI_PIPELINE_URL": "https://gitlab.example.com/acme/api/-/pipelines/42",
        "CI_COMMIT_TIMESTAMP": "2024-07-30T13:58:02+00:00",
        "CI_COMMIT_TAG": "v1.4.2",
    }
    assert ci_details(gitlab) == {
        "Version": "v1.4.2",
        "Revision": "1f2e3d4c",
        "Actor": "jdoe",
        "Link": "https://gitlab.example.com/acme/api/-/pipelines/42",
        "CommitTimestamp": "2024-07-30T13:58:02+00:00",
    }
    untagged = {**gitlab, "CI_COMMIT_TAG": ""}
    assert "Version" not in ci_details(untagged)


def test_jenkins() -> None:
    jenkins = {
        "JENKINS_URL": "https://jenkins.example.com/",
        "BUILD_URL": "https://jenkins.example.com/job/api/17/",
        "GIT_COMMIT": "abc123",
    }
    assert ci_details(jenkins) == {
        "Revision": "abc123",
        "Link": "https://jenkins.example.com/job/api/17/",
    }


def test_outside_ci_nothing() -> None:
    assert ci_details({"GITHUB_SHA": "abc", "CI_COMMIT_SHA": "def", "BUILD_URL": "x"}) == {}
    assert ci_details({}) == {}


def test_blank_variables_give_nothing() -> None:
    blank = {name: " " for name in GITHUB if name != "GITHUB_ACTIONS"}
    assert ci_details({**GITHUB, **blank}) == {}
    gitlab = {"GITLAB_CI": "true", "CI_COMMIT_SHA": "", "GITLAB_USER_LOGIN": "jdoe"}
    assert ci_details(gitlab) == {"Actor": "jdoe"}
    assert ci_details({"JENKINS_URL": "", "BUILD_URL": "https://jenkins.example.com/1/"}) == {}


def test_the_first_system_detected_is_the_only_one_read() -> None:
    both = {**GITHUB, "GITLAB_CI": "true", "CI_COMMIT_TAG": "v9", "JENKINS_URL": "https://j/"}
    assert ci_details(both) == ci_details(GITHUB)


NO_OPTIONS: dict[str, str | None] = {
    "Version": None,
    "Revision": None,
    "Actor": None,
    "Link": None,
    "Message": None,
    "CommitTimestamp": None,
}


def test_options_win_over_the_environment_detail_by_detail() -> None:
    options = {**NO_OPTIONS, "Actor": "release-bot", "Version": "1.4.2"}
    assert record_details(options, GITHUB) == {
        "Revision": GITHUB["GITHUB_SHA"],
        "Actor": "release-bot",
        "Link": "https://github.com/acme/payments-api/actions/runs/10176543210",
        "Version": "1.4.2",
    }


def test_an_empty_option_counts_as_not_given() -> None:
    options = {**NO_OPTIONS, "Actor": "", "Message": ""}
    assert record_details(options, GITHUB) == ci_details(GITHUB)
    assert record_details(options, {}) == {}


def test_without_the_environment_only_the_options_are_sent() -> None:
    # --no-ci: post passes an empty environment.
    options = {**NO_OPTIONS, "Message": "hotfix"}
    assert record_details(options, {}) == {"Message": "hotfix"}
    assert record_details(NO_OPTIONS, {}) == {}
