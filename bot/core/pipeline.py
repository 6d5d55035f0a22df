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
from bot.core.routing import NONE_OPEN, THREAD, Route, by_slug, open_for, route
from bot.core.rules import Evidence, check, counts_toward_unit
from bot.core.settings import CampaignConfig, ClassifyRules, Limits

# Reply kinds.
RECEIPT = "receipt"
PROBLEMS = "problems"
ASK_UNIT = "ask_unit"  # campaign mail with files, from a sender no unit could be found for
ASK_SENDER = "ask_sender"  # a stranger's campaign mail with nothing in it: which unit, and what to send
QUESTION = "question"  # a unit's mail without files that asks something: it reached the office
ASK_CAMPAIGN = "ask_campaign"  # a unit's material that could answer several notices: which one?
CLOSED = "campaign_closed"  # material for a campaign past its close: kept, staff decide
NO_REPLY = "none"
# How a match vouches for the sender: a registered address, or a person's decision. Anyone else is a stranger.
REGISTERED = ("address", "address+name", "staff")


@dataclass(frozen=True)
class Context:
    """Everything the pure steps need besides the mail; built in one place (bot/bootstrap.py) for every
    command that judges mail, so that `intake inspect` decides as `intake poll` does."""

    campaigns: tuple[CampaignConfig, ...]  # every campaign in force, open or closed (bot/core/routing.py)
    roster: Roster  # the roster in force: staff decisions (exemptions, taught addresses) applied
    own_addresses: tuple[str, ...]  # lower case: mail from these is the bot's own
    check_sender_auth: bool = True  # a registered address failing DMARC/SPF gets no receipt
    archive_readers: Mapping[str, ArchiveReader] = field(default_factory=lambda: BUILT_IN_READERS)  # + RAR's

    # The config's [limits] and [classify] are the mailbox's, the same in every campaign.
    @property
    def limits(self) -> Limits:
        return self.campaigns[0].limits if self.campaigns else Limits()

    @property
    def classify(self) -> ClassifyRules:
        return self.campaigns[0].classify if self.campaigns else ClassifyRules()

    @property
    def max_image_pixels(self) -> int:
        return self.campaigns[0].max_image_pixels if self.campaigns else CampaignConfig.max_image_pixels

    def campaign(self, slug: str | None) -> CampaignConfig | None:
        return by_slug(self.campaigns, slug)


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
    route: Route = Route(None, NONE_OPEN)  # the campaign it is filed under, and why
    answers: str | None = None  # the kind of our reply this mail answers (ask_campaign: which notice it is)

    @property
    def campaign(self) -> CampaignConfig | None:
        return self.route.campaign

    @property
    def closed(self) -> bool:
        """Material for a campaign that had closed when it arrived."""
        return self.route.campaign is not None and self.received_at > self.route.campaign.closes


@dataclass(frozen=True)
class Outcome:
    reply: str  # receipt | problems | ask_unit | ask_sender | question | ask_campaign | campaign_closed | none
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
    unpacked = unpack(mail.attachments, ctx.limits, ctx.archive_readers)
    if any(defect.startswith(TOO_DEEP) for defect in mail.defects):  # parts below were never read
        too_deep = Problem("mime_too_deep", None, (("limit", MAX_DEPTH),))
        unpacked = replace(unpacked, problems=(*unpacked.problems, too_deep))
    match = identify_sender(mail, unpacked, ctx.roster)
    links = find_large_links(mail)
    items = tuple(plan_item(i, p, mail, ctx) for i, p in enumerate(unpacked.parts))
    routed = route(mail, items, match.unit, received_at, ctx.campaigns, ctx.roster)
    relevant, why = relevance(mail, received_at, match, items, routed, ctx)
    if relevant is False and why == "no-signal" and links:
        relevant, why = True, "large-file-link"
    if not relevant and automatic == "bounce" and returns_our_mail(mail):
        relevant, why = True, "bounce-of-our-mail"  # staff must learn that a reply did not arrive
    failure = sender_auth_failure(mail) if match.how.startswith("address") and ctx.check_sender_auth else None
    question = question_of(mail) if not automatic else None
    return Analysis(mail, received_at, automatic, match, unpacked, links, items, relevant, why, failure, question,
                    routed)


def analyse_raw(raw: bytes, received_at: datetime, ctx: Context) -> Analysis:
    """Parse and analyse; a mail over the size limit is judged by its headers only and the sender
    asked to split it (its raw bytes are still archived by the shell)."""
    limit = ctx.limits.max_message_bytes
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


def replied_message(mail: Mail, campaigns: tuple[CampaignConfig, ...]) -> int | None:
    """The ledger id of our message this mail answers: our reply's Message-ID in In-Reply-To or
    References (`<intake.<slug>.<id>.…>`), else a reference (`[IDV2020-0031]`) in the subject."""
    threads = " ".join(filter(None, (mail.header("in-reply-to"), mail.header("references"))))
    found = answered_row_ids(threads)
    if found:
        return found[-1]
    for campaign in campaigns:
        quoted = referenced_row_id(campaign.reference_prefix, mail.subject)
        if quoted is not None:
            return quoted
    return None


def in_thread_of(analysis: Analysis, unit: str | None, message_row_id: int, campaign: str | None,
                 ctx: Context, answers: str | None = None) -> Analysis:
    """A mail that answers our reply to a message: filed under that message's campaign; and when it comes from
    an address we do not know, the unit's (follow-up material, 补交), staff seeing it came from elsewhere."""
    match = analysis.match
    if match.unit is None and unit is not None and not analysis.automatic:
        match = UnitMatch(unit, "thread", f"M{message_row_id}", "in-reply-to", needs_review=True)
    routed = route(analysis.mail, analysis.items, match.unit, analysis.received_at, ctx.campaigns, ctx.roster,
                   thread=campaign)
    relevant, why = relevance(analysis.mail, analysis.received_at, match, analysis.items, routed, ctx)
    return replace(analysis, match=match, relevant=relevant, relevance=why, route=routed, answers=answers)


def returns_our_mail(mail: Mail) -> bool:
    """A bounce that carries back a mail we sent (it has our loop header)."""
    marker = LOOP_HEADER.lower().encode("ascii") + b":"
    return any(marker in a.payload[:65536].lower() for a in mail.attachments) or (
        LOOP_HEADER.lower() + ":" in mail.text.lower()
    )


def plan_item(index: int, part: Part, mail: Mail, ctx: Context) -> ItemPlan:
    facts = inspect_file(part.payload, part.filename, max_image_pixels=ctx.max_image_pixels)
    verdict = classify(part.filename, facts, ctx.classify, folder_hint=part.folder_hint)
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


def relevance(mail: Mail, received_at: datetime, match: UnitMatch, items: tuple[ItemPlan, ...], routed: Route,
              ctx: Context) -> tuple[bool, str]:
    """Campaign mail: while a campaign it could answer is open, and from a registered unit, or with a submission
    signal: a unit's full name or registered alias in the subject, an answer to our own mail, a campaign's
    number, name or keyword in the subject, files of the kinds a submission has (or a large-file link, see
    `analyse`). Mail for a campaign that has closed is still its mail when a registered unit sends it or it
    answers our own (the unit is told the collection has closed); anyone else's is left alone."""
    campaign = routed.campaign
    if campaign is not None and received_at > campaign.closes:
        if match.how.startswith("address") or routed.reason == THREAD:
            return True, "closed-campaign"
        return False, "after-closing"
    if campaign is None and not open_for(ctx.campaigns, match.unit, ctx.roster, received_at):
        if all(received_at < c.opens for c in ctx.campaigns):
            return False, "before-opening"
        return False, "after-closing"
    if match.how.startswith("address"):
        return True, "address"
    if match.how == "name" and match.where == "subject" and match.name_kind in ("full", "alias"):
        return True, "unit-name"  # a name elsewhere, or a short form, only says which unit once it is campaign mail
    if match.how == "thread":
        return True, "thread"
    if any(term and term in mail.subject for c in ctx.campaigns for term in (c.notice, c.name, *c.keywords)):
        return True, "keyword"
    if any(i.skipped is None and (i.facts.is_image or i.facts.is_document or i.facts.is_archive) for i in items):
        return True, "files"
    return False, "no-signal"


def judge(analysis: Analysis, state: UnitState) -> Decision:
    """Check the mail against the campaign it is filed under and what the unit has there already. Mail with no
    campaign yet, or for one that has closed, is kept uncounted and unchecked until staff decide."""
    items = mark_already_stored(analysis.items, state)
    campaign = analysis.campaign
    answer = analysis.answers == ASK_CAMPAIGN and not any(i.skipped is None for i in items)
    if campaign is None or analysis.closed or answer:
        return Decision(analysis, items, (), analysis.closed, decide(analysis, items, ()))
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
    if carries_nothing and analysis.answers == ASK_CAMPAIGN:  # "it is for notice X": staff file the first mail
        return Outcome(NO_REPLY, "needs_attention", ("campaign-answer", *review))
    if carries_nothing and analysis.match.how not in REGISTERED:
        return Outcome(ASK_SENDER, "needs_attention", tuple(review))  # never a problem list to a stranger
    if carries_nothing and analysis.question:
        return Outcome(QUESTION, "needs_attention", ("question", *review))
    if analysis.match.unit is None:
        return Outcome(ASK_UNIT, "needs_attention", (*review, *(("unsorted",) if analysis.campaign is None else ())))
    if analysis.campaign is None:
        return Outcome(ASK_CAMPAIGN, "needs_attention", ("unsorted", *review))
    if analysis.closed:
        return Outcome(CLOSED, "needs_attention", ("campaign-closed", *review))
    if problems:
        return Outcome(PROBLEMS, "needs_attention", tuple(review))
    return Outcome(RECEIPT, "accepted", tuple(review))
