"""`S3BlobStore`: stored images as objects in an S3 bucket (AWS, MinIO, Ceph, R2 ...).

Apart from `storage/blobs.py` so that boto3 is imported only by processes that use S3; the
protocol and the settings are described there, the key rules in `storage/keys.py`. It does
not import blobs.py (blobs.py imports it, when an S3 store is made), so the two form no cycle.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from pixelmill.errors import NotFound, Unavailable
from pixelmill.storage.keys import check_key

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 2  # the first try and one retry

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}


class S3BlobStore:
    """Objects in an S3 bucket, under an optional key prefix."""

    kind = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if not bucket or "/" in bucket:
            raise ValueError(f"bad S3 bucket name {bucket!r}")
        if (access_key is None) != (secret_key is None):
            raise ValueError("give both the S3 access key and the secret key, or neither")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix) + "/" if prefix else ""
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            # checksums only where S3 requires them: MinIO, Ceph and R2 reject some of the
            # trailers boto3 >= 1.36 sends by default
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # a session of our own: boto3's default session is not safe to share between threads
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )

    def __repr__(self) -> str:  # never the credentials
        return (
            f"S3BlobStore({self.bucket!r}, prefix={self.prefix!r}, "
            f"endpoint_url={self.endpoint_url!r}, region={self.region!r})"
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        name = self._key(key)
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=name, Body=data, ContentType=content_type
            )
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("write", key, exc) from exc

    def get(self, key: str) -> bytes:
        name = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            with response["Body"] as body:
                data: bytes = body.read()
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                raise NotFound(f"{key} is not in storage") from exc
            raise _unavailable("read", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("read", key, exc) from exc
        return data

    def local_path(self, key: str) -> None:
        check_key(key)
        return None

    def exists(self, key: str) -> bool:
        name = self._key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                return False
            raise _unavailable("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("look up", key, exc) from exc
        return True

    def head(self, key: str) -> tuple[str, int]:
        """The ETag and byte size of `key` (delivery's version of an `s3/` source); NotFound."""
        name = self._key(key)
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING_KEY:
                raise NotFound(f"{key} is not in storage") from exc
            raise _unavailable("look up", key, exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("look up", key, exc) from exc
        return str(response.get("ETag", "")), int(response.get("ContentLength", 0))

    def delete(self, key: str) -> None:
        name = self._key(key)
        try:
            # S3 answers 204 for a key that is not there too
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable("delete", key, exc) from exc

    def ping(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError):
            return False
        return True

    def create_bucket(self) -> None:
        """Create the bucket if it is not there yet (tests, development)."""
        options: dict[str, Any] = {}
        if self.region and self.region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(Bucket=self.bucket, **options)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise _unavailable("create", "the bucket", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("create", "the bucket", exc) from exc

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(verb: str, key: str, exc: Exception) -> Unavailable:
    """An Unavailable that says why, from the error's kind only: no endpoint, no credentials."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"S3 said {_code(exc) or 'error'}" + (f", HTTP {status}" if status else "")
    elif isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        reason = "cannot reach the S3 endpoint"
    elif isinstance(exc, ReadTimeoutError):
        reason = "the S3 endpoint did not answer in time"
    elif isinstance(exc, NoCredentialsError):
        reason = "no S3 credentials configured"
    else:
        reason = type(exc).__name__
    return Unavailable(f"storage unavailable: cannot {verb} {key} ({reason})")
