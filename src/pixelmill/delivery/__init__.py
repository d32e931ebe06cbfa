"""Delivery: signed image URLs served from a result cache.

    signing.py    HMAC-SHA256 signatures of `{options}/{source}`, key rotation, `unsafe`
    sources.py    local/, captions/, faces/, s3/, url/ -> identity, version, bytes
    remote.py     url/ sources fetched without SSRF
    images.py     the URL's chain run on a miss
    cache.py      results on disk (bounded, LRU) or in the S3 bucket
    results.py    cache first, then one computation per key (in-process, and across
                  processes under a Redis lock)

The route (`api/routes/delivery.py`) verifies the signature, parses the options, resolves the
source's version, answers 304 when the client's ETag still matches, and otherwise serves the
cached result or makes it once.
"""
