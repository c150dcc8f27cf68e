"""What each DAG's trigger form asks, typed: one frozen dataclass per DAG, read from a run's
``params`` by its ``from_params``, which the DAG's own tasks call first. The task bodies they share
take these objects (or the library's requests they make), so no task looks at which fields a form
has to guess which DAG it runs in.

``from_params`` reads the fields as :mod:`.params` defines them (``None``, ``""``, ``[]`` and ``{}``:
not given) and refuses only what its own reading cannot make sense of; what needs a backend (an
email address, a recipe's name, a search's engine) is checked by the task, in the order it always
has been, each refusal naming its field (:func:`~.params.refusing_invalid`).

- ``gallery_retrieve``: :class:`RetrieveRequest`; ``gallery_inbox``: :class:`InboxRequest`;
- ``gallery_process``: :class:`ProcessRequest`; ``gallery_analytics``: :class:`AnalyticsRequest`;
- ``gallery_deliver``: :class:`DeliverRequest`;
- ``image_request``: :class:`ImageRequest`: a :class:`RetrieveRequest` (its ``search``), then a
  :class:`ProcessRequest` of the run's images, then a delivery of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from image_pipeline.airflow_adapter import params as form
from image_pipeline.core.selection import Selection
from image_pipeline.deliver.request import DeliveryRequest
from image_pipeline.retrieve.request import REQUEST_FIELDS


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(value) if value else None


def _count(value: Any) -> int | None:
    """A count the form's schema accepted (``integer`` admits ``5.0``); None when not given."""
    return int(value) if value else None


@dataclass(frozen=True)
class RetrieveRequest:
    """``gallery_retrieve``'s form: one search (or site, URL list, inbox). ``None``: not given, the
    library's default (see :func:`~image_pipeline.retrieve.request.validate_request`)."""

    engine: str | None = None
    keywords: tuple[str, ...] | None = None
    count: int | None = None
    filters: Mapping[str, Any] | None = None
    site_url: str | None = None
    urls: tuple[str, ...] | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RetrieveRequest:
        given = form.given(params, *REQUEST_FIELDS)
        return cls(engine=given.get("engine"), keywords=_strings(given.get("keywords")), count=given.get("count"),
                   filters=given.get("filters"), site_url=given.get("site_url"), urls=_strings(given.get("urls")))

    def given(self) -> dict[str, Any]:
        """The fields given, as :func:`~image_pipeline.retrieve.request.plan_requests` takes a form."""
        values = {"engine": self.engine, "keywords": self.keywords, "count": self.count, "filters": self.filters,
                  "site_url": self.site_url, "urls": self.urls}
        return {k: list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v
                for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class InboxRequest:
    """``gallery_inbox``'s form: the label recorded on the ingested images."""

    keyword: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> InboxRequest:
        return cls(keyword=params["keyword"])


@dataclass(frozen=True)
class ProcessRequest:
    """``gallery_process``'s form: the recipes (empty: ``GALLERY_RECIPES``) over a selection, with
    ``force`` (redo what is up to date), ``retry`` (the selection's failed images first) and
    ``batch_size`` (None: chosen from the number of images)."""

    recipes: tuple[str, ...] = ()
    selection: Selection = field(default_factory=Selection)
    force: bool = False
    retry: bool = False
    batch_size: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ProcessRequest:
        """Raises InvalidRequest for a selection that cannot be one (a day that is not a day, a range
        the wrong way round, images that are not sha256s)."""
        chosen = {**form.chosen_selection(params), **form.given(params, "images")}
        return cls(recipes=tuple(params.get("recipes") or ()), selection=Selection.from_dict(chosen),
                   force=bool(params.get("force")), retry=bool(params.get("retry")),
                   batch_size=_count(params.get("batch_size")))


@dataclass(frozen=True)
class AnalyticsRequest:
    """``gallery_analytics``'s form: the day to report on (None: the run's data interval)."""

    day: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AnalyticsRequest:
        """Raises InvalidRequest for a day that is not ``YYYY-MM-DD``."""
        return cls(day=form.check_day("day", params.get("day")))


@dataclass(frozen=True)
class DeliverRequest:
    """``gallery_deliver``'s form: a recipe's outputs for a selection, to a recipient (None:
    ``GALLERY_EMAIL_TO``). The selection's fields are kept as given: :meth:`chosen` checks them."""

    recipe: str
    recipient: str | None = None
    selection: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DeliverRequest:
        return cls(recipe=params["recipe"], recipient=params.get("recipient") or None,
                   selection=form.given(params, *form.SELECTION_FIELDS))

    def chosen(self) -> dict[str, Any]:
        """The selection, days checked and a range closed (:func:`~.params.chosen_selection`); empty
        when none was given. Raises InvalidRequest."""
        return form.chosen_selection(self.selection)

    def deliveries(self, recipient: str, run_ids: list[str]) -> list[DeliveryRequest]:
        """The form's selection as one delivery, else one per retrieval run in ``run_ids``."""
        chosen = self.chosen()
        if chosen:
            return [DeliveryRequest.for_selection({**chosen, "recipe": self.recipe}, recipient)]
        return [DeliveryRequest.for_selection({"recipe": self.recipe, "run_id": r}, recipient) for r in run_ids]


@dataclass(frozen=True)
class ImageRequest:
    """``image_request``'s form: a search, one recipe over the images the run retrieves, and the
    address their archive goes to."""

    search: RetrieveRequest
    recipe: str
    email: str
    batch_size: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ImageRequest:
        return cls(search=RetrieveRequest.from_params(params), recipe=params["recipe"], email=params["email"],
                   batch_size=_count(params.get("batch_size")))

    def processing(self, run_id: str) -> ProcessRequest:
        """The recipe over exactly this run's images."""
        return ProcessRequest(recipes=(self.recipe,), selection=Selection(run_id=run_id), batch_size=self.batch_size)

    def delivery(self, run_id: str, occasion: str | None) -> DeliveryRequest:
        """This run's images, to the form's address, once per run (``occasion``)."""
        return DeliveryRequest.for_selection({"recipe": self.recipe, "run_id": run_id}, self.email, occasion)
