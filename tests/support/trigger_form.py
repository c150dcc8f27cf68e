"""A page object for Airflow 3.3's React "Trigger Dag" dialog, driven by playwright's sync API.

Fields are found by the title the form shows (``Param(title=...)``, else the param's name), whatever
section they are in; collapsed sections are opened as needed. What was established on Airflow 3.3.2
in headless Chromium (see the report that came with this file):

* The dialog validates one thing itself: a *required* field without a value ("This field is required"
  under it, the Trigger button disabled). A typed param is required unless its type admits ``null``
  (``type=["null", ...]``); a default that fails its own schema is sent to the form as ``null``, so
  ``Param([], minItems=1)`` or ``Param("", pattern=...)`` is required and empty. ``Param("", type="string")``
  also disables the button, with no message. An object field with malformed JSON shows the parser's
  error and disables the button.
* Everything else (pattern, format, minLength, items' patterns, enum) is checked by the API server when
  the run is created: the POST answers 400, the dialog stays open and shows the detail in its error alert
  (``trigger_error``), and no run exists. Integer fields clamp out-of-range numbers to min/max on blur.
* On success the dialog closes and the page moves to ``/dags/<dag_id>/runs/<run_id>``.

Light on purpose: stdlib and playwright only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

TIMEOUT = 30_000  # ms, for anything that waits on the API server (SQLite, two busy cores)

_ROW = "[data-scope=field][data-part=root]"
# The param rows: in the config form's accordion, but not in "Advanced Options" (Run ID, note, conf JSON).
_PARAM_ROWS = f"[data-testid=config-form] > [data-part=item]:not([id$='item:advancedOptions']) {_ROW}"


class FormValueError(AssertionError):
    """The field does not hold what was filled in (the form changed or refused it)."""


@dataclass
class TriggerResult:
    """What the API server answered to the dialog's POST .../dagRuns."""

    status: int
    run_id: str | None
    detail: str | None = None
    body: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# --- login and opening ---------------------------------------------------------------------------

def login(page: Page, url: str, user: str, password: str, timeout: float = TIMEOUT) -> None:
    """Sign in through the simple auth manager's page (``/auth/login``): the server sets the ``_token``
    cookie, which the UI and the REST API (``page.request``) then use."""
    page.goto(f"{url.rstrip('/')}/auth/login?next=/")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    try:
        page.wait_for_url(lambda u: "/auth/login" not in u, timeout=timeout)
    except PlaywrightTimeout:
        says = page.locator("body").inner_text()[:500]
        raise AssertionError(f"login as {user!r} failed; the page says: {says}") from None


def login_with_token(page: Page, url: str, token: str) -> None:
    """The alternative to :func:`login`: a JWT from ``POST /auth/token`` set as the ``_token`` cookie."""
    page.context.add_cookies([{"name": "_token", "value": token, "url": url.rstrip("/") + "/"}])


def dag_params(page: Page, url: str, dag_id: str) -> dict[str, dict]:
    """The DAG's params as the form gets them (``value``, ``schema``), through the REST API with the
    browser's cookie."""
    response = page.request.get(f"{url.rstrip('/')}/api/v2/dags/{quote(dag_id, safe='')}/details", timeout=TIMEOUT)
    if not response.ok:
        raise AssertionError(f"GET dag details of {dag_id}: HTTP {response.status} {response.text()[:300]}")
    return response.json().get("params") or {}


def open_trigger_form(page: Page, url: str, dag_id: str, timeout: float = TIMEOUT) -> Locator:
    """Open the DAG's page, press its Trigger button and wait until the dialog shows a row for every
    param (and the Trigger button's state has settled). Returns the dialog."""
    # one row per param, but for those with a truthy ``const`` (hidden inputs, as the form renders them)
    count = sum(not (spec.get("schema") or {}).get("const") for spec in dag_params(page, url, dag_id).values())
    page.goto(f"{url.rstrip('/')}/dags/{quote(dag_id, safe='')}")
    page.get_by_test_id("trigger-dag-button").click(timeout=timeout)
    dlg = dialog(page)
    expect(dlg.get_by_test_id("config-form")).to_be_visible(timeout=timeout)
    expect(dlg.locator(_PARAM_ROWS)).to_have_count(count, timeout=timeout)
    _settle(page)
    return dlg


def dialog(page: Page) -> Locator:
    return page.get_by_role("dialog").filter(has=page.get_by_test_id("trigger-dag-submit"))


# --- fields --------------------------------------------------------------------------------------

def field_row(page: Page, title: str) -> Locator:
    """The form row (label, control, helper and error text) of the field titled ``title``."""
    label = page.locator("label[data-part=label]", has_text=re.compile(rf"^\s*{re.escape(title)}\s*\*?\s*$"))
    row = dialog(page).locator(_PARAM_ROWS).filter(has=label)
    if row.count() != 1:
        labels = dialog(page).locator(f"{_PARAM_ROWS} label[data-part=label]").all_text_contents()
        titles = [t.strip().rstrip("*").strip() for t in labels]
        raise AssertionError(f"{row.count()} fields titled {title!r} in the trigger form; its fields: {titles}")
    return row


def sections(page: Page) -> dict[str, bool]:
    """The form's sections (accordion items, "Advanced Options" included) and whether each is open."""
    triggers = dialog(page).locator("[data-testid=config-form] > [data-part=item] > button[data-part=item-trigger]")
    return {t.inner_text().strip(): t.get_attribute("aria-expanded") == "true" for t in triggers.all()}


def open_section(page: Page, name: str) -> None:
    trigger = dialog(page).locator("[data-testid=config-form] > [data-part=item] > button[data-part=item-trigger]",
                                   has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    expect(trigger).to_have_attribute("aria-expanded", "true")


def _shown(row: Locator) -> Locator:
    """Open the row's section when it is collapsed; the row then is visible."""
    if not row.is_visible():
        item = row.locator("xpath=ancestor::*[@data-scope='accordion' and @data-part='item'][1]")
        trigger = item.locator("> button[data-part=item-trigger]")
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
    expect(row).to_be_visible()
    return row


def field_kind(page: Page, title: str) -> str:
    """What control the form shows: json, multiselect, select, switch, number, date, datetime, time,
    lines (a textarea, one item per line) or text."""
    row = field_row(page, title)
    if row.locator("[role=code]").count():
        return "json"  # Monaco: objects, arrays of non-strings, several types
    if row.locator("input[role=combobox]").count():
        # react-select; the multi one (arrays with examples/enum) keeps one hidden input per value
        multi = row.locator("input[role=combobox][aria-label='Select one or multiple values']").count()
        return "multiselect" if multi else "select"
    if row.locator("[data-scope=switch]").count():
        return "switch"
    if row.locator("input[role=spinbutton]").count():
        return "number"
    if row.locator("textarea").count():
        return "lines"
    kind = row.locator("input").first.get_attribute("type") or "text"
    return {"date": "date", "datetime-local": "datetime", "time": "time"}.get(kind, "text")


def fill(page: Page, title: str, value: Any, strict: bool = True) -> Any:
    """Put ``value`` in the field titled ``title``:

    * text: a string (``None`` or ``""`` empties it: the form sends ``null``);
    * lines (array of strings): a list, one item per line (a blank line would be an ``""`` item);
    * number: an int or float (the form clamps it to minimum/maximum when it loses focus);
    * date / datetime / time: a ``date``/``datetime``/``time`` or its ISO string (``YYYY-MM-DD``...);
    * select (enum): the value or its display label (``values_display``); multiselect: a list of them;
    * switch (boolean): True or False;
    * json (object): a dict or list, dumped as JSON, or a str typed as is (to test malformed JSON).

    Returns what the field shows afterwards. With ``strict``, a field that does not hold what was
    filled in (a clamped number, ...) raises :class:`FormValueError`.
    """
    row = _shown(field_row(page, title))
    kind = field_kind(page, title)
    filler = {"json": _fill_json, "select": _fill_select, "multiselect": _fill_multiselect, "switch": _fill_switch,
              "number": _fill_number, "lines": _fill_lines, "date": _fill_input, "datetime": _fill_input,
              "time": _fill_input, "text": _fill_input}[kind]
    shown, wanted = filler(page, row, value)
    _settle(page)
    if strict and shown != wanted:
        raise FormValueError(f"{title!r} ({kind}): filled {wanted!r}, the form shows {shown!r}")
    return shown


def _fill_input(page: Page, row: Locator, value: Any):
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%dT%H:%M")
    elif isinstance(value, (date, time)):
        value = value.isoformat()
    text = "" if value is None else str(value)
    box = row.locator("input").first
    box.fill(text)
    box.blur()
    return box.input_value(), text


def _fill_number(page: Page, row: Locator, value: Any):
    text = "" if value is None else str(value)
    box = row.locator("input[role=spinbutton]")
    box.fill(text)
    box.blur()  # the number input commits (and clamps) on blur
    return box.input_value(), text


def _fill_lines(page: Page, row: Locator, value: Any):
    items = [] if value is None else [value] if isinstance(value, str) else [str(v) for v in value]
    text = "\n".join(items)
    box = row.locator("textarea")
    box.fill(text)
    box.blur()  # an emptied field becomes null on blur
    return box.input_value(), text


def _fill_switch(page: Page, row: Locator, value: Any):
    box = row.locator("input[type=checkbox]")
    if box.is_checked() != bool(value):
        row.locator("label[data-scope=switch]").click()
    expect(box).to_be_checked(checked=bool(value))
    return box.is_checked(), bool(value)


def _editor_text(row: Locator) -> str:
    return row.locator(".view-lines").inner_text().replace("\u00a0", " ")


_PASTE = """(row, text) => {
    const target = document.activeElement;
    if (!row.contains(target)) return false;
    const data = new DataTransfer();
    data.setData("text/plain", text);
    target.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
    return true;
}"""


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text or "null")
    except ValueError:
        return text.strip()


def _fill_json(page: Page, row: Locator, value: Any):
    """Monaco: focus it, select all, paste. A paste replaces the selection as is; typing (even
    ``keyboard.insert_text``) goes through Monaco's auto-closing of brackets and quotes. Valid JSON
    is shown re-indented by the form, so what the field holds is compared parsed."""
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
    wanted = _json_or_text(text)
    for _attempt in range(3):
        row.locator("[role=code]").click()
        page.keyboard.press("ControlOrMeta+a")
        if text:
            if not row.evaluate(_PASTE, text):
                continue  # the editor did not have the focus yet
        else:
            page.keyboard.press("Delete")
        dialog(page).locator("h2").first.click()  # blur the editor
        _settle(page)
        shown = _json_or_text(_editor_text(row))
        if shown == wanted:
            break
    return shown, wanted


def _option_label(page: Page, row: Locator, wanted: Any) -> str:
    """The option's label for a value or a label; the value's label from the DAG's values_display."""
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    labels = [t.strip() for t in options.all_inner_texts()]
    if str(wanted) in labels:
        return str(wanted)
    name = (row.locator("[id^=element_]").first.get_attribute("id") or "").removeprefix("element_")
    dag_id = re.search(r"/dags/([^/?#]+)", page.url).group(1)
    url = re.match(r"https?://[^/]+", page.url).group(0)
    schema = dag_params(page, url, dag_id).get(name, {}).get("schema", {})
    label = (schema.get("values_display") or {}).get(str(wanted), str(wanted))
    if label not in labels:
        raise FormValueError(f"no option {wanted!r} ({label!r}); the options: {labels}")
    return label


def _fill_select(page: Page, row: Locator, value: Any):
    row.locator("input[role=combobox]").click()
    label = _option_label(page, row, value)
    page.get_by_role("option", name=label, exact=True).click()
    expect(page.get_by_role("option")).to_have_count(0)  # the menu closed
    hidden = row.locator("input[type=hidden]").first.input_value()
    # given by its label, the value is whatever the option holds
    return hidden, hidden if str(value) == label else str(value)


def _fill_multiselect(page: Page, row: Locator, value: Any):
    wanted = [value] if isinstance(value, str) else list(value or [])
    combo = row.locator("input[role=combobox]")
    removers = row.locator("[aria-label^='Remove ']")
    while removers.count():  # unselect what is selected, one by one
        before = removers.count()
        removers.first.locator("[role=button]").click()
        expect(removers).to_have_count(before - 1)
    expected = []
    for item in wanted:
        combo.click()
        label = _option_label(page, row, item)
        page.get_by_role("option", name=label, exact=True).click()
        expect(row.locator(f"[aria-label='Remove {label}']")).to_have_count(1)
        expected.append(None if str(item) == label else str(item))  # None: given by label
    dialog(page).locator("h2").first.click()  # close the menu (Escape could close the dialog)
    expect(page.get_by_role("option")).to_have_count(0)
    hidden = row.locator("input[type=hidden]").evaluate_all("es => es.map(e => e.value).filter(v => v !== '')")
    return hidden, [h if e is None else e for e, h in zip(expected, hidden + [None] * len(expected), strict=False)]


def field_value(page: Page, title: str) -> Any:
    """What the field shows: text, the textarea's lines, the number, the checkbox, the selected
    value(s), or the JSON editor's text parsed (or raw when it does not parse)."""
    row = field_row(page, title)
    kind = field_kind(page, title)
    if kind == "json":
        return _json_or_text(row.locator(".view-lines").text_content().replace("\u00a0", " "))
    if kind in ("select", "multiselect"):
        values = row.locator("input[type=hidden]").evaluate_all("es => es.map(e => e.value).filter(v => v !== '')")
        return values if kind == "multiselect" else (values[0] if values else None)
    if kind == "switch":
        return row.locator("input[type=checkbox]").is_checked()
    if kind == "lines":
        text = row.locator("textarea").input_value()
        return text.split("\n") if text else []
    return row.locator("input[role=spinbutton]" if kind == "number" else "input").first.input_value()


def field_error(page: Page, title: str) -> str | None:
    """The message under the field (the form's own checks: required, malformed JSON), or None."""
    error = field_row(page, title).locator("[data-part=error-text]")
    return (error.text_content() or "").strip() if error.count() else None


def form_errors(page: Page) -> dict[str, str]:
    """Every field's message, by title."""
    errors = {}
    for row in dialog(page).locator(_PARAM_ROWS).all():
        error = row.locator("[data-part=error-text]")
        if error.count():
            title = (row.locator("label[data-part=label]").text_content() or "").strip().rstrip("*").strip()
            errors[title] = (error.text_content() or "").strip()
    return errors


# --- the Trigger button --------------------------------------------------------------------------

def submit_button(page: Page) -> Locator:
    return dialog(page).get_by_test_id("trigger-dag-submit")


def trigger_enabled(page: Page) -> bool:
    """Whether the dialog's Trigger button can be pressed now (after pending renders)."""
    _settle(page)
    return submit_button(page).is_enabled()


def wait_trigger_enabled(page: Page, enabled: bool = True, timeout: float = 10_000) -> None:
    """Wait for the Trigger button to be enabled (or disabled); the fields' messages in the failure."""
    try:
        if enabled:
            expect(submit_button(page)).to_be_enabled(timeout=timeout)
        else:
            expect(submit_button(page)).to_be_disabled(timeout=timeout)
    except AssertionError:
        raise AssertionError(f"Trigger button not {'enabled' if enabled else 'disabled'}; "
                             f"field errors: {form_errors(page)}") from None


def set_run_id(page: Page, run_id: str) -> None:
    """The run's id (Advanced Options > Run ID); generated by the server when not set."""
    open_section(page, "Advanced Options")
    dialog(page).locator("input[name=dagRunId]").fill(run_id)


def press_trigger(page: Page, run_id: str | None = None, expect_ok: bool = True,
                  timeout: float = TIMEOUT) -> TriggerResult:
    """Press the dialog's Trigger button (after setting ``run_id`` if given) and return the API
    server's answer. On success the dialog closes and the page shows the run; on a refusal (400: the
    server validates the conf against the params' schema) the dialog stays open with the detail in its
    error alert, and with ``expect_ok`` an AssertionError carries it."""
    if run_id is not None:
        set_run_id(page, run_id)
    wait_trigger_enabled(page, True)
    with page.expect_response(lambda r: r.request.method == "POST" and re.search(r"/api/v2/dags/[^/]+/dagRuns$", r.url)
                              is not None, timeout=timeout) as info:
        submit_button(page).click()
    response = info.value
    is_json = "json" in (response.headers.get("content-type") or "")
    body = response.json() if is_json else {"detail": response.text()}
    body = body if isinstance(body, dict) else {"detail": body}
    result = TriggerResult(response.status, body.get("dag_run_id"), None if response.ok else _detail(body), body)
    if result.ok:
        run_path = f"/runs/{result.run_id}"
        page.wait_for_url(lambda u: unquote(urlsplit(u).path).endswith(run_path), timeout=timeout)
        expect(dialog(page)).to_have_count(0, timeout=timeout)
    else:
        expect(dialog(page).get_by_test_id("error-alert")).not_to_be_empty(timeout=timeout)
        if expect_ok:
            raise AssertionError(f"the trigger was refused: HTTP {result.status}: {result.detail}")
    return result


def trigger_error(page: Page) -> str | None:
    """The dialog's error alert (e.g. "400 Bad Request Invalid input for param email: ..."), or None."""
    alert = dialog(page).get_by_test_id("error-alert")
    text = (alert.text_content() or "").strip() if alert.count() else ""
    return text or None


def _detail(body: dict) -> str:
    detail = body.get("detail", body)
    return detail if isinstance(detail, str) else json.dumps(detail)


def _settle(page: Page) -> None:
    """Let React run the effects of the last input (two animation frames), without a fixed sleep."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
