"""example_service: a suppression list (per account: email addresses, each with a reason and a creation
time) with a gRPC API, an HTTP JSON API and a DynamoDB backend.

``SuppressionService(dynamodb_client, table="suppressions")`` is the whole service: serve it with
``.register_grpc(server)`` and ``.wsgi_app``, or run it standalone with ``python -m example_service``.
"""

from example_service.errors import InvalidArgument, NotFound, ServiceError, TableNotReadyError, Unavailable
from example_service.service import SuppressionService
from example_service.store import Suppression, SuppressionStore

__all__ = [
    "InvalidArgument",
    "NotFound",
    "ServiceError",
    "Suppression",
    "SuppressionService",
    "SuppressionStore",
    "TableNotReadyError",
    "Unavailable",
]
