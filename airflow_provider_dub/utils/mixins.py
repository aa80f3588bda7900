"""
The arguments every task that reads Dub customers shares, defined once.

:class:`DubCustomersMixin` holds the connection, the hook settings (``hook_params``), the filters,
``include_expanded_fields`` and the output arguments, with their ``template_fields``, the ``hook``
and the parsed ``filters``/``expanded`` values. :class:`~airflow_provider_dub.operators.dub.DubListCustomersOperator`
and :class:`~airflow_provider_dub.sensors.dub.DubNewCustomersSensor` are built on it, as Amazon's
providers build their operators and sensors on ``AwsBaseHookMixin``.

Unlike that mixin it takes its arguments in an ``__init__`` of its own, so it derives from
``BaseOperator``: Airflow applies ``default_args`` and checks ``partial()``/``expand()`` arguments
only against the ``__init__`` of ``BaseOperator`` subclasses, and a plain mixin's arguments would be
refused by ``partial()`` and never taken from ``default_args``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.hooks.connection import HookOverrides
from airflow_provider_dub.hooks.dub import DubHook
from airflow_provider_dub.protocol import FILTER_PARAMS
from airflow_provider_dub.protocol.params import as_boolean
from airflow_provider_dub.writers import check_format_support, open_output_path, resolve_format

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: The settings a task may pass to its hooks (``DubHook`` and ``DubAsyncHook`` take the same).
HOOK_PARAMS = tuple(field.name for field in dataclasses.fields(HookOverrides))


def check_hook_params(hook_params: Any) -> dict[str, Any]:
    """
    Return ``hook_params`` as a dict of hook settings, checked without reading the connection.

    :raises DubValidationError: naming ``hook_params`` (and the setting) on an unknown setting or a
        value the hooks would refuse.
    """
    if hook_params is None:
        return {}
    if not isinstance(hook_params, dict):
        raise DubValidationError(
            "hook_params", f"expected a dict, got {type(hook_params).__name__}", HOOK_PARAMS
        )
    unknown = [name for name in hook_params if name not in HOOK_PARAMS]
    if unknown:
        raise DubValidationError(
            "hook_params", f"unknown setting {', '.join(repr(name) for name in unknown)}", HOOK_PARAMS
        )
    try:
        HookOverrides(**hook_params)
    except DubValidationError as err:
        raise DubValidationError(f"hook_params.{err.param}", err.problem, err.allowed) from None
    return dict(hook_params)


class DubCustomersMixin(BaseOperator):
    """
    Take the arguments shared by the tasks that read Dub customers (not a task of its own).

    A subclass's docstring gets these ``:param:`` lines appended (:meth:`__init_subclass__`), so
    its API reference lists every argument while they are written once, here.

    :param dub_conn_id: the Dub connection. (templated)
    :param hook_params: settings for the task's hooks, overriding the connection's extras:
        ``max_retry_seconds`` and ``requests_per_minute``, e.g. ``{"max_retry_seconds": 60}``.
    :param email: exact email (takes precedence over ``external_id`` and ``search``). (templated)
    :param external_id: exact external id (takes precedence over ``search``). (templated)
    :param search: whole words of name or email; with ``@``, an exact email. (templated)
    :param country: ISO 3166-1 alpha-2 country code. (templated)
    :param link_id: customers referred through this link. (templated)
    :param program_id: customers of the workspace's partner program (Dub uses the default
        program). (templated)
    :param partner_id: customers referred by this partner. (templated)
    :param customer_ids: only these customers: a list of up to 250 ids, or a string of ids
        separated by commas (or a JSON list). (templated)
    :param include_expanded_fields: add ``link``, ``programId``, ``partner`` and ``discount`` to
        each customer: ``True``/``False`` or, as a template renders it, ``"true"``, ``"no"``,
        ``"1"``... (templated)
    :param output_path: where to write the customers: any URL ``ObjectStoragePath`` takes
        (``file:///...``, ``s3://conn_id@bucket/key``, ...). (templated)
    :param output_conn_id: the connection of the object storage, if not in the URL. (templated)
    :param output_format: ``jsonl``, ``csv`` or ``parquet``; by default from the extension, else
        ``jsonl``. (templated)
    """

    template_fields: Sequence[str] = (
        "dub_conn_id",
        *FILTER_PARAMS,
        "include_expanded_fields",
        "output_path",
        "output_conn_id",
        "output_format",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Append the shared arguments' ``:param:`` lines to the subclass's docstring."""
        super().__init_subclass__(**kwargs)
        shared = inspect.cleandoc(DubCustomersMixin.__doc__ or "")
        shared = shared[shared.index(":param ") :]
        if cls.__doc__ and ":param dub_conn_id:" not in cls.__doc__:
            cls.__doc__ = f"{inspect.cleandoc(cls.__doc__)}\n{shared}\n"

    def __init__(
        self,
        *,
        dub_conn_id: str = DubHook.default_conn_name,
        hook_params: dict[str, Any] | None = None,
        email: str | None = None,
        external_id: str | None = None,
        search: str | None = None,
        country: str | None = None,
        link_id: str | None = None,
        program_id: str | None = None,
        partner_id: str | None = None,
        customer_ids: list[str] | str | None = None,
        include_expanded_fields: bool | str = False,
        output_path: str | None = None,
        output_conn_id: str | None = None,
        output_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dub_conn_id = dub_conn_id
        self.hook_params = check_hook_params(hook_params)
        self.email = email
        self.external_id = external_id
        self.search = search
        self.country = country
        self.link_id = link_id
        self.program_id = program_id
        self.partner_id = partner_id
        self.customer_ids = customer_ids
        self.include_expanded_fields = include_expanded_fields
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.output_format = output_format

    @cached_property
    def hook(self) -> DubHook:
        """The task's :class:`DubHook`, with its ``hook_params``."""
        return DubHook(self.dub_conn_id, **self.hook_params)

    @property
    def filters(self) -> dict[str, Any]:
        """The filters as the hook takes them, unset ones left out."""
        values = {name: getattr(self, name) for name in FILTER_PARAMS}
        return {name: value for name, value in values.items() if value not in (None, "")}

    @property
    def expanded(self) -> bool:
        """
        Return ``include_expanded_fields`` as a boolean: the one reading of it for Dub and the files.

        :raises DubValidationError: on a value that is not a boolean or one's text.
        """
        if self.include_expanded_fields in (None, ""):
            return False
        return as_boolean("include_expanded_fields", self.include_expanded_fields)

    def check_output(self) -> tuple[ObjectStoragePath | None, str]:
        """
        Return the output path (``None`` without ``output_path``) and format, checked before any read.

        :raises DubValidationError: on an unusable URL or an unknown or unsupported format.
        """
        if not self.output_path:
            return None, resolve_format(self.output_format, "")  # unused, but a typo is still an error
        path = open_output_path(self.output_path, self.output_conn_id)
        output_format = resolve_format(self.output_format, self.output_path)
        check_format_support(output_format)
        return path, output_format
