"""Custom domains of one deployment: list, add (shows the DNS records to create; y copies them),
verify (says what is wrong when it fails) and remove (type the name to confirm)."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from shipdeck.api.errors import ShipdeckError
from shipdeck.live.plans import plan_domain_add, plan_domain_remove, plan_domain_verify
from shipdeck.live.reads import Reads
from shipdeck.live.session import ChangeSession
from shipdeck.live.state import MAX_LIST_KEPT
from shipdeck.model import Deployment, Domain
from shipdeck.model.validation import ascii_domain, domain_problem, normalize_domain
from shipdeck.tui.clipboard import copy_to_clipboard
from shipdeck.tui.screens.screen_kit import (
    TextPrompt,
    describe_error,
    read_only_note,
    refused_because_read_only,
    run_change,
    run_change_work,
    run_read,
    screen_closed,
)
from shipdeck.tui.text import literal
from shipdeck.tui.widgets.detail_pane import DomainsList, cap_line
from shipdeck.tui.widgets.virtual_table import VirtualTable


def zone_lines(domain: Domain) -> list[str]:
    """The DNS records to create, one zone-file line each (what `y` copies)."""
    return [f"{record.name} {record.type} {record.value}" for record in domain.records]


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


# Re-read the list this often while a domain is on its way to active (a few requests a minute at most).
DOMAIN_REREAD_SECONDS = 10.0
SETTLING_DOMAIN_STATES = frozenset({"verified", "verifying", "provisioning_tls"})


class DomainsScreen(Screen[None]):
    CSS_PATH = STYLES
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="domains-close"),
        Binding("a", "add", "Add", id="domain-add"),
        Binding("v", "verify", "Verify", id="domain-verify"),
        Binding("delete,D", "remove", "Remove", id="domain-remove"),
        Binding("y", "copy_records", "Copy DNS", id="domain-copy"),
        Binding("ctrl+r", "reload", "Reload", id="domains-reload"),
    ]

    def __init__(self, reads: Reads, session: ChangeSession, deployment: Deployment) -> None:
        super().__init__()
        self.reads = reads
        self.runner = session  # every change goes through the session (read-only guard, audit, key)
        self.deployment = deployment
        # The first MAX_LIST_KEPT domains the server lists; ``domains_total`` how many it listed.
        self.domains: list[Domain] = []
        self.domains_total = 0
        # The last verification answer per domain id, shown until the next reload replaces it.
        self.last_verify: dict[str, Domain] = {}

    def compose(self) -> ComposeResult:
        yield Static(Content(literal(f"Domains · {self.deployment.name}")), id="domains-title")
        note = read_only_note(self.runner)
        yield Static(Content(note), id="domains-readonly", classes="" if note else "-hidden")
        yield Static("", id="domains-cap", classes="-hidden")
        yield DomainsList(id="domains-table")
        with VerticalScroll(id="domains-detail"):
            yield Static("", id="domains-detail-text")
        yield Footer()

    @property
    def table(self) -> DomainsList:
        return self.query_one("#domains-table", DomainsList)

    def on_mount(self) -> None:
        self.table.show_message("loading…")
        self.table.focus()
        self.action_reload()
        # A domain on its way (verified, waiting for its certificate; a provider still looking its records
        # up) is re-read while the screen is open: it said "verified" long after the server said active.
        self.set_interval(DOMAIN_REREAD_SECONDS, self._reread_settling)

    def _reread_settling(self) -> None:
        if any(d.status in SETTLING_DOMAIN_STATES for d in self.domains):
            run_read(self, self._load(), group="domains-load")

    # -- data -------------------------------------------------------------------------------------------
    def action_reload(self) -> None:
        run_read(self, self._load(), group="domains-load")

    async def _load(self, select: str | None = None) -> None:
        try:
            listed = await self.reads.domains(self.deployment.id)
        except ShipdeckError as exc:
            self.notify(describe_error(exc), title="Could not read domains", severity="error", markup=False)
            if not self.domains:
                self.table.show_message("could not read the domains (ctrl+r reads them again)")
            return
        self.domains, self.domains_total = listed[:MAX_LIST_KEPT], len(listed)
        # A verification answer stands until the list says something else of the domain (it is newer).
        now = {d.id: d.status for d in self.domains}
        self.last_verify = {i: d for i, d in self.last_verify.items() if now.get(i) == d.status}
        cap = self.query_one("#domains-cap", Static)
        cap.update(cap_line(len(self.domains), self.domains_total, "domains"))
        cap.set_class(self.domains_total <= len(self.domains), "-hidden")
        self._render_table(select)

    async def _load_after_change(self, select: str | None = None) -> None:
        if not screen_closed(self):  # closed while the change was sent: its toast said what became of it
            await self._load(select)

    def _render_table(self, select: str | None = None) -> None:
        """Every row anew (drawn virtually); the cursor on ``select``, else on the row it was on."""
        self.table.show_rows(self.domains, empty="no custom domains", select=select)
        self._render_detail()

    @property
    def selected(self) -> Domain | None:
        return self.table.highlighted

    def _render_detail(self) -> None:
        self.query_one("#domains-detail-text", Static).update(
            Content("\n".join(map(literal, self.detail_lines())))
        )

    def detail_lines(self) -> list[str]:
        """What the detail pane says about the selected domain: status, records to create, what is wrong."""
        domain = self.selected
        if domain is None:
            return ["No custom domains yet: press a to add one."]
        verified = self.last_verify.get(domain.id, domain)
        lines = [f"{domain.name}: {verified.status}"]
        if verified.status == "failed" or verified.error:
            reason = (verified.error or "the DNS records were not found").rstrip(".")
            lines.append(f"Verification failed: {reason}.")
            lines.append("Check that these records exist at your DNS provider, then press v again:")
        elif verified.status == "active":
            lines.append("Active: traffic for this name reaches the deployment.")
        elif verified.status == "verified":
            # Miosa: the DNS records were found; the name serves once its certificate is issued (active).
            lines.append("Verified: the records were found; it is active once its certificate is issued.")
        elif verified.status in ("verifying", "provisioning_tls"):
            # Mixpeek: its worker looks the TXT record up, then provisions the certificate.
            step = (
                "the certificate is being issued"
                if verified.status == "provisioning_tls"
                else "the provider is looking for these records"
            )
            lines.append(f"Verifying: {step} (v checks again, y copies them):")
        else:
            lines.append("Create these DNS records, then press v to verify (y copies them):")
        lines += [f"  {line}" for line in zone_lines(domain)] or ["  (the server listed no records)"]
        if domain.instructions:
            lines.append(domain.instructions)
        return lines

    @on(VirtualTable.Highlighted, "#domains-table")
    def _moved(self) -> None:
        self._render_detail()

    # -- actions ----------------------------------------------------------------------------------------
    def action_add(self) -> None:
        if refused_because_read_only(self, self.runner, "domain-add"):
            return

        def got(name: str | None) -> None:
            if name is not None:
                run_change_work(self, self._add(ascii_domain(name)), group="domains-act")

        prompt = TextPrompt(
            f"Add a custom domain to {literal(self.deployment.name)}",
            help_text="The host name only; internationalised names are fine.",
            placeholder="app.example.com",
            validate=domain_problem,
        )
        self.app.push_screen(prompt, got)

    async def _add(self, name: str) -> None:
        outcome = await run_change(self, self.runner, plan_domain_add(self.deployment, name))
        if outcome is None or not outcome.applied:
            return
        domain = outcome.result if isinstance(outcome.result, Domain) else None
        if domain is not None:
            self.notify(
                literal(f"Added {domain.name} ({domain.status}): create the DNS records shown."), markup=False
            )
        await self._load_after_change(select=domain.id if domain is not None else None)

    def action_verify(self) -> None:
        if refused_because_read_only(self, self.runner, "domain-verify"):
            return
        domain = self.selected
        if domain is not None:
            run_change_work(self, self._verify(domain), group="domains-act")

    async def _verify(self, domain: Domain) -> None:
        outcome = await run_change(self, self.runner, plan_domain_verify(self.deployment, domain))
        result = outcome.result if outcome is not None and isinstance(outcome.result, Domain) else None
        if result is None:
            return
        # The outcome's one toast says whether it verified (two stacked toasts covered the records to copy).
        self.last_verify[domain.id] = result
        await self._load_after_change(select=domain.id)

    def action_remove(self) -> None:
        if refused_because_read_only(self, self.runner, "domain-remove"):
            return
        domain = self.selected
        if domain is None:
            return

        def must_match(typed: str) -> str | None:
            typed_forms = {normalize_domain(typed)}
            if domain_problem(typed) is None:
                typed_forms.add(ascii_domain(typed))  # the unicode form of an xn-- name also confirms
            if normalize_domain(domain.name) in typed_forms:
                return None
            return f"Type {literal(domain.name)} exactly to remove it."

        def confirmed(typed: str | None) -> None:
            if typed is not None:
                run_change_work(self, self._remove(domain), group="domains-act")

        prompt = TextPrompt(
            f"Remove {literal(domain.name)}?",
            help_text="Traffic for this name stops reaching the deployment. Type the domain name to confirm.",
            validate=must_match,
        )
        self.app.push_screen(prompt, confirmed)

    async def _remove(self, domain: Domain) -> None:
        outcome = await run_change(self, self.runner, plan_domain_remove(self.deployment, domain))
        if outcome is not None and outcome.applied:
            self.last_verify.pop(domain.id, None)
            await self._load_after_change()

    def action_copy_records(self) -> None:
        domain = self.selected
        if domain is None:
            return
        lines = zone_lines(domain)
        if lines:
            copy_to_clipboard(
                self.app, "\n".join(lines), what=f"DNS records for {domain.name}", multiline=True
            )
        else:
            copy_to_clipboard(self.app, domain.name, what="domain name")

    def action_close(self) -> None:
        self.app.pop_screen()
