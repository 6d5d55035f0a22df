"""The pure steps in order: triage, identify, inspect, classify, relevance, check, decide.

`analyse` needs only the mail and the campaign; `judge` also needs what is already stored for the
unit, which the shell looks up in between. Neither touches the network, the disk or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.core.classify import classify
from bot.core.files.archives import ArchiveReader
from bot.core.files.file_facts import inspect_file
from bot.core.files.unpack import BUILT_IN_READERS, unpack
from bot.core.identify import identify
from bot.core.mail.large_file_links import find_large_links
from bot.core.mail.parse import MAX_DEPTH, TOO_DEEP, parse_mail
from bot.core.mail.sender_auth import sender_auth_failure
from bot.core.mail.triage import LOOP_HEADER, automatic_reason
from bot.core.model import (
    Category,
    FileFacts,
    ItemPlan,
    LargeFileLink,
    Mail,
    Part,
    Problem,
    UnitMatch,
    UnitState,
    Unpacked,
)
from bot.core.questions import question_of
from bot.core.render.outgoing import answered_row_ids, referenced_row_id
from bot.core.roster import Roster
from bot.core.rules import Evidence, check, counts_toward_unit
from bot.core.settings import CampaignConfig

# Reply kinds.
RECEIPT = "receipt"
PROBLEMS = "problems"
ASK_UNIT = "ask_unit"  # campaign mail with files, from a sender no unit could be found for
ASK_SENDER = "ask_sender"  # a stranger's campaign mail with nothing in it: which unit, and what to send
QUESTION = "question"  # a unit's mail without files that asks something: it reached the office
NO_REPLY = "none"
# How a match vouches for the sender: a registered address, or a person's decision. Anyone else is a stranger.
REGISTERED = ("address", "address+name", "staff")


@dataclass(frozen=True)
class Context:
    """Everything the pure steps need besides the mail; built in one place (bot/bootstrap.py) for every
    command that judges mail, so that `intake inspect` decides as `intake poll` does."""

    campaign: CampaignConfig
    roster: Roster  # the roster in force: staff decisions (exemptions, taught addresses) applied
    own_addresses: tuple[str, ...]  # lower case: mail from these is the bot's own
    check_sender_auth: bool = True  # a registered address failing DMARC/SPF gets no receipt
    archive_readers: Mapping[str, ArchiveReader] = field(default_factory=lambda: BUILT_IN_READERS)  # + RAR's


@dataclass(frozen=True)
class Analysis:
    mail: Mail
    received_at: datetime
    automatic: str | None  # why no reply is due (own-address, loop, bounce, complaint, auto-reply, list)
    match: UnitMatch
    unpacked: Unpacked  # the files once archives, forwards and winmail.dat are opened
    links: tuple[LargeFileLink, ...]  # files left behind download links (超大附件)
    items: tuple[ItemPlan, ...]  # one per unpacked part, same order
    relevant: bool
    relevance: str  # the signal that made it campaign mail, or why it is not
    auth_failure: str | None = None  # a registered sender the receiving server did not vouch for
    question: str | None = None  # what the sender's own words ask, if anything (bot/core/questions.py)


@dataclass(frozen=True)
class Outcome:
    reply: str  # receipt | problems | ask_unit | none
    disposition: str  # accepted | needs_attention | ignored (shown as `status` in status --json)
    review: tuple[str, ...]  # what a person must look at


@dataclass(frozen=True)
class Decision:
    analysis: Analysis
    items: tuple[ItemPlan, ...]
    problems: tuple[Problem, ...]
    late: bool
    outcome: Outcome


def analyse(mail: Mail, received_at: datetime, ctx: Context) -> Analysis:
    automatic = automatic_reason(mail, ctx.own_addresses)
    unpacked = unpack(mail.attachments, ctx.campaign.limits, ctx.archive_readers)
    if any(defect.startswith(TOO_DEEP) for defect in mail.defects):  # parts below were never read
        too_deep = Problem("mime_too_deep", None, (("limit", MAX_DEPTH),))
        unpacked = replace(unpacked, problems=(*unpacked.problems, too_deep))
    match = identify_sender(mail, unpacked, ctx.roster)
    links = find_large_links(mail)
    items = tuple(plan_item(i, p, mail, ctx.campaign) for i, p in enumerate(unpacked.parts))
    relevant, why = relevance(mail, received_at, match, items, ctx.campaign)
    if relevant is False and why == "no-signal" and links:
        relevant, why = True, "large-file-link"
    if not relevant and automatic == "bounce" and returns_our_mail(mail):
        relevant, why = True, "bounce-of-our-mail"  # staff must learn that a reply did not arrive
    failure = sender_auth_failure(mail) if match.how.startswith("address") and ctx.check_sender_auth else None
    question = question_of(mail) if not automatic else None
    return Analysis(mail, received_at, automatic, match, unpacked, links, items, relevant, why, failure, question)


def analyse_raw(raw: bytes, received_at: datetime, ctx: Context) -> Analysis:
    """Parse and analyse; a mail over the size limit is judged by its headers only and the sender
    asked to split it (its raw bytes are still archived by the shell)."""
    limit = ctx.campaign.limits.max_message_bytes
    if len(raw) <= limit:
        return analyse(parse_mail(raw), received_at, ctx)
    head = raw[:1024 * 1024].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    analysis = analyse(parse_mail(head + b"\r\n\r\n"), received_at, ctx)
    problem = Problem("message_too_large", None, (("size", len(raw)), ("limit", limit)))
    return replace(analysis, unpacked=Unpacked((), (problem,)), items=())


def identify_sender(mail: Mail, unpacked: Unpacked, roster: Roster) -> UnitMatch:
    """The outer sender when registered, else a registered inner sender of a forwarded mail,
    else the names in the mail."""
    match = identify(mail, roster)
    if match.how.startswith("address"):
        return match
    for address, _name in unpacked.senders:
        unit = roster.by_email(address)
        if unit is not None:
            return UnitMatch(unit.name, "forwarded", address, "forwarded", needs_review=True)
    return match


def replied_message(mail: Mail, campaign: CampaignConfig) -> int | None:
    """The ledger id of our message this mail answers: our reply's Message-ID in In-Reply-To or
    References (`<intake.<slug>.<id>.…>`), else its reference (`[IDV2020-0031]`) in the subject."""
    threads = " ".join(filter(None, (mail.header("in-reply-to"), mail.header("references"))))
    found = answered_row_ids(campaign.slug, threads)
    if found:
        return found[-1]
    return referenced_row_id(campaign.reference_prefix, mail.subject)


def in_thread_of(analysis: Analysis, unit: str, message_row_id: int, campaign: CampaignConfig) -> Analysis:
    """A mail from an address we do not know that answers our reply to a unit is that unit's (follow-up
    material, 补交); staff see that it came from another address."""
    match = UnitMatch(unit, "thread", f"M{message_row_id}", "in-reply-to", needs_review=True)
    relevant, why = relevance(analysis.mail, analysis.received_at, match, analysis.items, campaign)
    return replace(analysis, match=match, relevant=relevant, relevance=why)


def returns_our_mail(mail: Mail) -> bool:
    """A bounce that carries back a mail we sent (it has our loop header)."""
    marker = LOOP_HEADER.lower().encode("ascii") + b":"
    return any(marker in a.payload[:65536].lower() for a in mail.attachments) or (
        LOOP_HEADER.lower() + ":" in mail.text.lower()
    )


def plan_item(index: int, part: Part, mail: Mail, campaign: CampaignConfig) -> ItemPlan:
    facts = inspect_file(part.payload, part.filename, max_image_pixels=campaign.max_image_pixels)
    verdict = classify(part.filename, facts, campaign.classify, folder_hint=part.folder_hint)
    return ItemPlan(
        index=index,
        filename=part.filename or default_name(index, facts.kind),
        category=verdict.category,
        reason=verdict.reason,
        facts=facts,
        size=part.size,
        sha256=part.sha256,
        counted=False,
        skipped="inline-image" if is_embedded_image(part, mail, facts) else None,
        source=part.path,
    )


def default_name(index: int, kind: str) -> str:
    return f"attachment-{index + 1}.{kind if kind != 'unknown' else 'bin'}"


EMBEDDED_IMAGE_MAX_BYTES = 256 * 1024  # a cid: picture above this, or with camera EXIF, is a photo


def is_embedded_image(part: Part, mail: Mail, facts: FileFacts) -> bool:
    """A small picture the HTML body shows by `cid:` (a signature logo, a pasted banner) is not a file
    the unit submitted. A photo marked `inline` (Apple Mail shows photos by cid: too) still is."""
    if not facts.is_image or part.origin != "attachment" or part.disposition == "attachment":
        return False
    if not part.content_id or f"cid:{part.content_id}".lower() not in mail.html.lower():
        return False
    return part.size < EMBEDDED_IMAGE_MAX_BYTES and not facts.has_exif


def relevance(
    mail: Mail, received_at: datetime, match: UnitMatch, items: tuple[ItemPlan, ...], campaign: CampaignConfig
) -> tuple[bool, str]:
    """Campaign mail: inside the window, and from a registered unit, or with a submission signal: a unit's
    full name or registered alias in the subject, an answer to our own mail, a campaign keyword in the
    subject, files of the kinds a submission has (or a large-file link, see `analyse`)."""
    if received_at < campaign.opens:
        return False, "before-opening"
    if received_at > campaign.closes:
        return False, "after-closing"
    if match.how.startswith("address"):
        return True, "address"
    if match.how == "name" and match.where == "subject" and match.name_kind in ("full", "alias"):
        return True, "unit-name"  # a name elsewhere, or a short form, only says which unit once it is campaign mail
    if match.how == "thread":
        return True, "thread"
    if any(word and word in mail.subject for word in campaign.keywords):
        return True, "keyword"
    if any(i.skipped is None and (i.facts.is_image or i.facts.is_document or i.facts.is_archive) for i in items):
        return True, "files"
    return False, "no-signal"


def judge(analysis: Analysis, state: UnitState, campaign: CampaignConfig) -> Decision:
    items = mark_already_stored(analysis.items, state)
    evidence = Evidence(campaign, analysis.received_at, analysis.match, items, analysis.unpacked.problems,
                        analysis.links, analysis.question)
    problems = check(evidence)
    # Kept for staff but not counted until a person decides: the files of a possibly forged sender, and those
    # automatic mail carries (a bounce or auto-forward returning a unit's mail is not its submission).
    uncounted = bool(analysis.auth_failure or analysis.automatic)
    items = tuple(replace(i, counted=counts_toward_unit(i, problems) and not uncounted) for i in items)
    return Decision(analysis, items, problems, evidence.late, decide(analysis, items, problems))


def mark_already_stored(items: tuple[ItemPlan, ...], state: UnitState) -> tuple[ItemPlan, ...]:
    seen = set(state.sha256s)
    marked: list[ItemPlan] = []
    for item in items:
        if item.skipped is None:
            marked.append(replace(item, already_stored=item.sha256 in seen))
            seen.add(item.sha256)
        else:
            marked.append(item)
    return tuple(marked)


def decide(analysis: Analysis, items: tuple[ItemPlan, ...], problems: tuple[Problem, ...]) -> Outcome:
    """The one place that turns problems into an answer."""
    review: list[str] = []
    if analysis.match.unit is None:
        review.append("unassigned")
    elif analysis.match.needs_review:
        review.append("unregistered-sender")
    if any(i.category is Category.OTHER and i.skipped is None for i in items):
        review.append("unclassified-file")
    if analysis.automatic:
        return Outcome(NO_REPLY, "ignored", ())
    if analysis.auth_failure:  # never confirm acceptance to an address that may be forged
        return Outcome(NO_REPLY, "needs_attention", ("sender-auth-failed", *review))
    carried = any(i.skipped is None for i in items) or analysis.links or analysis.unpacked.problems
    carries_nothing = not carried
    if carries_nothing and analysis.match.how not in REGISTERED:
        return Outcome(ASK_SENDER, "needs_attention", tuple(review))  # never a problem list to a stranger
    if carries_nothing and analysis.question:
        return Outcome(QUESTION, "needs_attention", ("question", *review))
    if analysis.match.unit is None:
        return Outcome(ASK_UNIT, "needs_attention", tuple(review))
    if problems:
        return Outcome(PROBLEMS, "needs_attention", tuple(review))
    return Outcome(RECEIPT, "accepted", tuple(review))
