"""The fixed payload key of the tests: every test server, worker, replayer and app encrypts with it, so
that the saved histories recorded with it replay."""

from __future__ import annotations

import base64

from worker.codec import EncryptionCodec, PayloadKeys, data_converter

TEST_PAYLOAD_KEYS = "test1:" + base64.b64encode(b"referrals-tests-payload-key-0001").decode()
KEYS = PayloadKeys.parse(TEST_PAYLOAD_KEYS)
CONVERTER = data_converter(KEYS)
CODEC = EncryptionCodec(KEYS)
