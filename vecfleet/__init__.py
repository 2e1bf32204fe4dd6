"""vecfleet: filtered vector search, embedded or as a service.

```python
import vecfleet
db = vecfleet.connect("./data")
col = db.create_collection("incidents", dim=384, metric="cosine", index="hnsw")
```
"""

from vecfleet.client import connect
from vecfleet.engine.api import CollectionHandle, EmbeddedDatabase
from vecfleet.errors import (
    AlreadyExists,
    CollectionExists,
    CollectionNotFound,
    CorruptData,
    FilterError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StorageError,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.models import Explain, Hit, Point, WriteAck

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "CollectionExists",
    "CollectionHandle",
    "CollectionNotFound",
    "CorruptData",
    "EmbeddedDatabase",
    "Explain",
    "FilterError",
    "Hit",
    "MalformedRequest",
    "NotFound",
    "PayloadTooLarge",
    "Point",
    "RateLimited",
    "StorageError",
    "Unavailable",
    "ValidationError",
    "VecfleetError",
    "WriteAck",
    "__version__",
    "connect",
]
