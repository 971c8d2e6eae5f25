"""The issuers beside AWS, each a plug-in registered by the way it revokes (the rule's
``[issuer] revocation``): how it attributes a token (who owns it, where the issuer tells), what
containment means for it, and which calls it makes.

* **GitHub** (``github-credentials-revoke``): GitHub does not tell others whose a token is; it revokes
  what is sent to ``POST /credentials/revoke`` and tells the owner.  Batched, rate limit honoured.
* **Slack** (``slack-auth-revoke``): ``auth.test`` names the workspace and user; ``auth.revoke`` makes
  the token revoke itself (``test=1`` in a dry run).
* **GitLab** (``gitlab-admin-token``): with an administrator token, ``POST /api/v4/admin/token`` names
  the owner and ``DELETE`` revokes; without one, notify only.
* Every other credential: announced, with the issuer's rotation page (``[issuer] rotate_url``).

The mode per credential type comes from ``[response.issuers]``: ``revoke`` (the default), ``notify_only``
or ``dry_run``.  A revoking step needs the token, which only the custody holds
(:mod:`keysentry.respond.custody`): when it is gone (the service restarted), the exposure is escalated
to a person, saying whether a revocation may already have been sent.  Revoking is idempotent at every
issuer (an already revoked token is "already so").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keysentry.authority.slack import SlackTokenGone
from keysentry.clock import utcnow
from keysentry.detect.rules import Issuer, rule_by_id
from keysentry.respond.states import State
from keysentry.respond.steps import NOT_APPLIED, STEPS, Outcome, StepContext, StepFunction
from keysentry.respond.view import ExposureView

UNKNOWN_ISSUER = Issuer(name="its issuer", rotate_url="https://owasp.org/www-community/vulnerabilities/")


def issuer_of(x: ExposureView) -> Issuer:
    rule = rule_by_id(x.rule_id)
    return rule.issuer if rule is not None else UNKNOWN_ISSUER


def _mode(ctx: StepContext, x: ExposureView) -> str:
    return ctx.settings.response.issuer_mode(x.credential_type)


def _not_applied(mode: str, reason: str, would: dict[str, Any]) -> Outcome:
    state = State.NOTIFY_ONLY if mode == "notify_only" else State.DRY_RUN
    containment = {"applied": False, "mode": mode, "reason": reason, "would": would}
    return Outcome(state, {"containment": containment, "mode": mode}, containment)


def _notify_only(reason: str) -> Outcome:
    """Nothing the issuer offers can be called: the owner is told, with the reason."""
    containment = {"applied": False, "mode": "notify_only", "reason": reason}
    return Outcome(State.NOTIFY_ONLY, {"containment": containment, "mode": "notify_only"}, containment)


def _revoked(issuer: Issuer, call: str, already: bool, **detail: Any) -> Outcome:
    containment = {
        "applied": True,
        "kind": "revoked",
        "issuer": issuer.name,
        "call": call,
        "already_applied": already,
        "blocks": "every use of the token: the issuer no longer accepts it",
        **detail,
    }
    changes = {
        "containment": containment,
        "contained_at": utcnow(),
        "state_reason": None,
        "mode": "revoke",
        "key_status": "Revoked",
    }
    return Outcome(State.CONTAINED, changes, containment)


def _not_in_hand(x: ExposureView, issuer: Issuer, call: str) -> Outcome:
    """The token is gone from memory (the service restarted): a person must revoke or check it."""
    if x.interrupted:
        reason = (
            f"the service stopped while {call} was under way, before {issuer.name}'s answer was recorded, "
            "so the token may or may not have been revoked; it was held in memory only, so keysentry can "
            f"neither ask again nor check: make sure it is revoked at {issuer.rotate_url}"
        )
    else:
        reason = (
            f"the token was held in memory only and the service restarted before revoking it: revoke it "
            f"at {issuer.rotate_url}"
        )
    containment = {
        "applied": False,
        "reason": reason,
        "severity": "critical",
        "may_be_revoked": x.interrupted,
    }
    return Outcome(State.ESCALATED, {"containment": containment, "state_reason": reason}, containment)


def _attributed(changes: dict[str, Any], detail: dict[str, Any]) -> Outcome:
    return Outcome(State.ATTRIBUTED, {"attributed_at": utcnow(), **changes}, detail)


# --- notify only -------------------------------------------------------------------------------
def announce_attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    issuer = issuer_of(x)
    return _attributed({}, {"how": f"no call: {issuer.name} offers no lookup keysentry can make"})


def announce_contain(ctx: StepContext, x: ExposureView) -> Outcome:
    issuer = issuer_of(x)
    if x.credential_type == "aws_secret_access_key":
        why = "its access key ID was not seen, so it can be neither attributed nor contained"
    elif x.credential_type == "aws_session_token":
        why = (
            "a session token alone (without its access key ID and secret) can be neither attributed nor "
            "contained; if the role's sessions may be in use, revoke them"
        )
    else:
        why = f"{issuer.name} offers no revocation keysentry can call"
    return _notify_only(f"{why}: rotate it at {issuer.rotate_url}")


# --- GitHub ------------------------------------------------------------------------------------
GITHUB_CALL = "POST /credentials/revoke"


def github_attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    return _attributed(
        {"principal_type": "github-token"},
        {"how": "no call: GitHub tells a token's owner when it is revoked, and nobody else whose it is"},
    )


def github_contain(ctx: StepContext, x: ExposureView) -> Outcome:
    issuer, mode = issuer_of(x), _mode(ctx, x)
    plan = {"kind": "revoke", "issuer": "GitHub", "call": GITHUB_CALL}
    if mode != "revoke":  # GitHub's API has no dry run: nothing is sent
        return _not_applied(mode, NOT_APPLIED[mode], plan)
    assert ctx.issuers is not None
    held = ctx.custody.get(x.secret_fingerprint)
    if held is None:
        return _not_in_hand(x, issuer, GITHUB_CALL)
    revoked = ctx.issuers.github.revoke(held.fingerprint, held.secret, ctx.issuers.github_step_wait)
    return _revoked(
        issuer,
        GITHUB_CALL,
        False,
        batch=revoked.batch,
        request_id=revoked.request_id,
        owner_told="GitHub emails the token's owner that it was revoked",
    )


def _unowned(reason: str) -> dict[str, Any]:
    """The containment of a credential its issuer does not know: nothing to revoke, and why."""
    return {"applied": False, "why": "unowned", "reason": reason}


# --- Slack -------------------------------------------------------------------------------------
def slack_attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    held = ctx.custody.get(x.secret_fingerprint)
    if _mode(ctx, x) == "notify_only" or held is None or ctx.issuers is None:
        return _attributed({"principal_type": "slack-token"}, {"how": "no call"})
    try:
        who = ctx.issuers.slack.whose(held.secret)
    except SlackTokenGone as exc:
        reason = f"{exc}: already revoked, or never valid"
        changes = {"state_reason": reason, "key_status": "Revoked", "containment": _unowned(reason)}
        return Outcome(State.UNOWNED, changes, {"how": "auth.test"})
    principal = f"slack:{who.team_id}/{who.user_id}" + (f" (bot {who.bot_id})" if who.bot_id else "")
    return _attributed(
        {
            "account_name": who.team,
            "principal_type": "slack-bot" if who.bot_id else "slack-user",
            "principal_name": who.user,
            "principal_arn": principal,
            "key_status": "Active",
        },
        {"how": "auth.test", "team": who.team, "user": who.user, "workspace_url": who.url},
    )


def slack_contain(ctx: StepContext, x: ExposureView) -> Outcome:
    issuer, mode = issuer_of(x), _mode(ctx, x)
    plan = {"kind": "revoke", "issuer": "Slack", "call": "auth.revoke"}
    if mode == "notify_only":
        return _not_applied(mode, NOT_APPLIED[mode], plan)
    assert ctx.issuers is not None
    held = ctx.custody.get(x.secret_fingerprint)
    if held is None:
        return _not_in_hand(x, issuer, "auth.revoke")
    try:
        ctx.issuers.slack.revoke(held.secret, dry_run=mode == "dry_run")
    except SlackTokenGone as exc:
        return _revoked(issuer, "auth.revoke", True, answer=exc.error)
    if mode == "dry_run":
        reason = "dry run: Slack's auth.revoke with test=1 accepted the token; nothing was revoked"
        return _not_applied(mode, reason, plan)
    return _revoked(issuer, "auth.revoke", False)


# --- GitLab ------------------------------------------------------------------------------------
GITLAB_CALL = "DELETE /api/v4/admin/token"


def gitlab_attribute(ctx: StepContext, x: ExposureView) -> Outcome:
    held = ctx.custody.get(x.secret_fingerprint)
    admin = ctx.issuers.gitlab if ctx.issuers is not None else None
    if admin is None or held is None or _mode(ctx, x) == "notify_only":
        return _attributed({"principal_type": "gitlab-token"}, {"how": "no call"})
    token = admin.lookup(held.secret)
    assert ctx.issuers is not None
    if token is None:
        reason = (
            f"GitLab at {ctx.issuers.gitlab_url} does not know this token (revoked and removed, or not "
            "its own)"
        )
        changes = {"state_reason": reason, "containment": _unowned(reason)}
        return Outcome(State.UNOWNED, changes, {"how": "POST /api/v4/admin/token"})
    return _attributed(
        {
            "account_name": ctx.issuers.gitlab_url,
            "principal_type": "gitlab-token",
            "principal_name": token.username or (str(token.user_id) if token.user_id else token.name),
            "principal_arn": f"{ctx.issuers.gitlab_url}/{token.username or token.user_id}: {token.name}",
            "key_status": "Revoked" if token.revoked or not token.active else "Active",
            "key_last_used": {"LastUsedDate": token.last_used_at} if token.last_used_at else None,
        },
        {"how": "POST /api/v4/admin/token", "scopes": list(token.scopes), "revoked": token.revoked},
    )


def gitlab_contain(ctx: StepContext, x: ExposureView) -> Outcome:
    issuer, mode = issuer_of(x), _mode(ctx, x)
    plan = {"kind": "revoke", "issuer": "GitLab", "call": GITLAB_CALL}
    admin = ctx.issuers.gitlab if ctx.issuers is not None else None
    if admin is None:
        reason = (
            "no GitLab administrator token is configured ([issuers.gitlab] admin_token), so keysentry "
            f"cannot revoke it: revoke it at {issuer.rotate_url}"
        )
        return _notify_only(reason)
    if mode != "revoke":
        return _not_applied(mode, NOT_APPLIED[mode], plan)
    held = ctx.custody.get(x.secret_fingerprint)
    if held is None:
        return _not_in_hand(x, issuer, GITLAB_CALL)
    if x.key_status == "Revoked":
        return _revoked(issuer, GITLAB_CALL, True)
    revoked = admin.revoke(held.secret)
    return _revoked(issuer, GITLAB_CALL, not revoked)


@dataclass(frozen=True)
class IssuerResponse:
    """One issuer's plug-in: its steps and the calls they make (for the documentation)."""

    name: str
    attribute: StepFunction
    contain: StepFunction
    calls: tuple[str, ...]

    def steps(self) -> dict[str, StepFunction]:
        return {"attribute": self.attribute, "contain": self.contain}


ANNOUNCE_ONLY = IssuerResponse("notify only", announce_attribute, announce_contain, ())
ISSUERS: dict[str, IssuerResponse] = {
    "github-credentials-revoke": IssuerResponse("GitHub", github_attribute, github_contain, (GITHUB_CALL,)),
    "slack-auth-revoke": IssuerResponse(
        "Slack", slack_attribute, slack_contain, ("auth.test", "auth.revoke")
    ),
    "gitlab-admin-token": IssuerResponse(
        "GitLab", gitlab_attribute, gitlab_contain, ("POST /api/v4/admin/token", GITLAB_CALL)
    ),
}


def issuer_response(x: ExposureView) -> IssuerResponse:
    """The plug-in that answers this exposure (AWS keys are answered by :mod:`keysentry.respond.steps`)."""
    revocation = issuer_of(x).revocation
    return ISSUERS.get(revocation or "", ANNOUNCE_ONLY)


def revocable(rule_issuer: Issuer) -> bool:
    return (rule_issuer.revocation or "") in ISSUERS


def steps_for(x: ExposureView) -> dict[str, StepFunction]:
    """The state steps that answer this exposure: AWS's for AWS keys, else its issuer's."""
    if x.credential_type == "aws_access_key":
        return STEPS
    return issuer_response(x).steps()
