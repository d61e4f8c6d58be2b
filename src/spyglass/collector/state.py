"""What the routes share, built once in the app's lifespan and reached through `Depends`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from spyglass.collector.ingest import Ingest
from spyglass.collector.metrics import ServerMetrics
from spyglass.collector.pricing import PriceTable
from spyglass.collector.redaction import Redactor
from spyglass.collector.settings import ServerSettings
from spyglass.store.traces import TraceStore


@dataclass
class Services:
    settings: ServerSettings
    store: TraceStore
    ingest: Ingest
    prices: PriceTable
    metrics: ServerMetrics
    redactor: Redactor | None = None


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
