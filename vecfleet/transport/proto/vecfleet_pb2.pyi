from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PointId(_message.Message):
    __slots__ = ("str", "num")
    STR_FIELD_NUMBER: _ClassVar[int]
    NUM_FIELD_NUMBER: _ClassVar[int]
    str: str
    num: int
    def __init__(self, str: _Optional[str] = ..., num: _Optional[int] = ...) -> None: ...

class ReadGate(_message.Message):
    __slots__ = ("min_seq", "max_lag_ms")
    MIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    MAX_LAG_MS_FIELD_NUMBER: _ClassVar[int]
    min_seq: int
    max_lag_ms: float
    def __init__(self, min_seq: _Optional[int] = ..., max_lag_ms: _Optional[float] = ...) -> None: ...

class SearchOptions(_message.Message):
    __slots__ = ("limit", "filter", "params", "with_payload", "with_vectors", "score_threshold", "offset")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    limit: int
    filter: bytes
    params: bytes
    with_payload: bool
    with_vectors: bool
    score_threshold: float
    offset: int
    def __init__(self, limit: _Optional[int] = ..., filter: _Optional[bytes] = ..., params: _Optional[bytes] = ..., with_payload: _Optional[bool] = ..., with_vectors: _Optional[bool] = ..., score_threshold: _Optional[float] = ..., offset: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "shard", "vectors", "dim", "gate", "options")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    vectors: bytes
    dim: int
    gate: ReadGate
    options: SearchOptions
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., vectors: _Optional[bytes] = ..., dim: _Optional[int] = ..., gate: _Optional[_Union[ReadGate, _Mapping]] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "score", "payload", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: PointId
    score: float
    payload: bytes
    vector: bytes
    def __init__(self, id: _Optional[_Union[PointId, _Mapping]] = ..., score: _Optional[float] = ..., payload: _Optional[bytes] = ..., vector: _Optional[bytes] = ...) -> None: ...

class HitList(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "plan")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[HitList]
    plan: bytes
    def __init__(self, results: _Optional[_Iterable[_Union[HitList, _Mapping]]] = ..., plan: _Optional[bytes] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("id", "payload", "vector")
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    id: PointId
    payload: bytes
    vector: bytes
    def __init__(self, id: _Optional[_Union[PointId, _Mapping]] = ..., payload: _Optional[bytes] = ..., vector: _Optional[bytes] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "shard", "ids", "with_vectors", "gate")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    ids: _containers.RepeatedCompositeFieldContainer[PointId]
    with_vectors: bool
    gate: ReadGate
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., ids: _Optional[_Iterable[_Union[PointId, _Mapping]]] = ..., with_vectors: _Optional[bool] = ..., gate: _Optional[_Union[ReadGate, _Mapping]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("collection", "shard", "filter", "gate")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    filter: bytes
    gate: ReadGate
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., filter: _Optional[bytes] = ..., gate: _Optional[_Union[ReadGate, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class ScrollRequest(_message.Message):
    __slots__ = ("collection", "shard", "filter", "limit", "cursor", "gate")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    filter: bytes
    limit: int
    cursor: int
    gate: ReadGate
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., filter: _Optional[bytes] = ..., limit: _Optional[int] = ..., cursor: _Optional[int] = ..., gate: _Optional[_Union[ReadGate, _Mapping]] = ...) -> None: ...

class ScrollResponse(_message.Message):
    __slots__ = ("points", "next_cursor")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[Point]
    next_cursor: int
    def __init__(self, points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ..., next_cursor: _Optional[int] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplicaStatus(_message.Message):
    __slots__ = ("collection", "shard", "applied_seq", "lag_ms", "points")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    LAG_MS_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    shard: int
    applied_seq: int
    lag_ms: float
    points: int
    def __init__(self, collection: _Optional[str] = ..., shard: _Optional[int] = ..., applied_seq: _Optional[int] = ..., lag_ms: _Optional[float] = ..., points: _Optional[int] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("node_id", "replicas")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    replicas: _containers.RepeatedCompositeFieldContainer[ReplicaStatus]
    def __init__(self, node_id: _Optional[str] = ..., replicas: _Optional[_Iterable[_Union[ReplicaStatus, _Mapping]]] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("node_id", "serving", "replicas")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SERVING_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    serving: bool
    replicas: int
    def __init__(self, node_id: _Optional[str] = ..., serving: _Optional[bool] = ..., replicas: _Optional[int] = ...) -> None: ...
