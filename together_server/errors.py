"""The one error type on the wire and its renderer (API.md §1.4).

Every non-2xx answer the application produces is an :class:`ApiError` rendered by
:func:`error_body`. Storage raises the same type with the domain code (``unknown_channel``,
``already_member`` ...): those codes *are* the domain language of the contract, so there is
no second family to translate. Anything else that escapes a handler becomes a plain
``500 internal_error`` whose traceback goes to the log only (see ``app.py``).
"""

from __future__ import annotations

from typing import Any

# code -> (status, default message). The status of a code never varies (API.md §1.4).
CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "Request body is not a JSON object"),
    "validation_failed": (400, "Invalid request"),
    "invalid_query": (400, "Invalid search query"),
    "owner_cannot_leave": (400, "The server owner cannot leave the server"),
    "cannot_target_self": (400, "You cannot target yourself"),
    "not_voice_channel": (400, "Not a voice channel"),
    "invite_expired": (400, "Invite has expired"),
    "bot_revoked": (400, "Bot has been revoked"),
    "limit_reached": (400, "Limit reached"),
    "no_gateway_session": (400, "No live gateway session"),
    "automod_blocked": (400, "Automod blocked this message"),
    "poll_closed": (400, "This poll is closed"),
    "url_not_allowed": (400, "This address may not be fetched"),
    "missing_token": (401, "Missing authorization token"),
    "invalid_token": (401, "Invalid token"),
    "token_expired": (401, "Access token has expired"),
    "session_revoked": (401, "Login session has ended"),
    "invalid_credentials": (401, "Invalid username or password"),
    "invalid_refresh_token": (401, "Invalid refresh token"),
    "refresh_token_reused": (401, "Refresh token was reused; the session has been revoked"),
    "refresh_token_rotated": (401, "Refresh token was just rotated"),
    "invalid_bot_token": (401, "Invalid bot token"),
    "invalid_signature": (403, "The file link has expired or is not valid"),
    "missing_permission": (403, "Missing permission"),
    "not_owner": (403, "Only the server owner may do this"),
    "hierarchy": (403, "Role hierarchy forbids this"),
    "cannot_target_owner": (403, "You cannot target the server owner"),
    "banned": (403, "You are banned from this server"),
    "invite_required": (403, "This server requires an invite"),
    "timed_out": (403, "You are timed out in this server"),
    "registration_closed": (403, "Registration is closed"),
    "bots_forbidden": (403, "Bots may not use this endpoint"),
    "bots_only": (403, "Only bots may use this endpoint"),
    "invalid_password": (403, "Password is incorrect"),
    "no_shared_server": (403, "You share no server with this user"),
    "account_disabled": (403, "This account is disabled"),
    "not_admin": (403, "Only the instance admin may do this"),
    "not_found": (404, "Not found"),
    "unknown_server": (404, "Unknown server"),
    "unknown_channel": (404, "Unknown channel"),
    "unknown_message": (404, "Unknown message"),
    "unknown_user": (404, "Unknown user"),
    "unknown_member": (404, "Unknown member"),
    "unknown_role": (404, "Unknown role"),
    "unknown_invite": (404, "Unknown invite"),
    "unknown_override": (404, "Unknown override"),
    "unknown_bot": (404, "Unknown bot"),
    "unknown_reaction": (404, "Unknown reaction"),
    "not_pinned": (404, "Message is not pinned"),
    "not_in_voice": (404, "Not in a voice channel"),
    "unknown_word": (404, "Unknown blocked word"),
    "unknown_webhook": (404, "Unknown webhook"),
    "unknown_poll": (404, "Unknown poll"),
    "unknown_event": (404, "Unknown event"),
    "unknown_emoji": (404, "Unknown emoji"),
    "not_live": (404, "Nobody is streaming in this channel"),
    "feature_disabled": (404, "This feature is not configured on this server"),
    "method_not_allowed": (405, "Method not allowed"),
    "already_member": (409, "Already a member of this server"),
    "emoji_name_taken": (409, "This server already has an emoji with this name"),
    "username_taken": (409, "Username is already taken"),
    "email_taken": (409, "Email is already taken"),
    "request_timeout": (408, "The request body did not arrive in time"),
    "payload_too_large": (413, "Request body is too large"),
    "range_not_satisfiable": (416, "Range not satisfiable"),
    "rate_limited": (429, "Too many requests"),
    "too_many_connections": (429, "Too many connections from your address"),
    "internal_error": (500, "Internal server error"),
    "preview_unavailable": (502, "The page could not be fetched for a preview"),
    "upstream_unavailable": (502, "The upstream service could not be reached"),
    "service_unavailable": (503, "Service unavailable"),
    "database_busy": (503, "The database is locked by another program; try again shortly"),
    "insufficient_storage": (507, "The server's disk is full; try again later"),
}


class ApiError(Exception):
    """An error answer: ``status``, stable ``code``, human ``message`` (API.md §1.4).

    ``errors`` maps field name -> short reason (400 validation_failed / invalid_query);
    ``extra`` adds the other optional keys (``retry_after``, ``timed_out_until``,
    ``status``); ``headers`` are added to the response (``Allow``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        errors: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        status, default = CODES[code]
        self.status = status
        self.code = code
        self.message = message or default
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{code}: {self.message}")

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, errors=self.errors, extra=self.extra)


def error_body(
    code: str, message: str, *, errors: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The §1.4 body: ``message``, ``code``, ``error`` (copy of message) + optional keys."""
    body: dict[str, Any] = {"message": message, "code": code, "error": message}
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def invalid(errors: dict[str, str]) -> ApiError:
    """400 validation_failed naming the bad fields; the message names the first one."""
    first = next(iter(errors))
    return ApiError("validation_failed", f"Invalid request: {first} {errors[first]}", errors=errors)
