"""JWT bearer auth: the connector signs an RS256 assertion the fake org verifies."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crmsync.connector import EndpointContext
from crmsync.errors import AuthError, ConfigError
from crmsync.retry import RetryPolicy
from crmsync_salesforce.connector import SalesforceConnector
from crmsync_salesforce.fake import FakeSalesforce


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return _key_pair()


def jwt_connector(fake: FakeSalesforce, **options: object) -> SalesforceConnector:
    opts = {"auth": "jwt", "login_url": fake.base_url, "client_id": fake.client_id,
            "username": fake.username, **options}
    return SalesforceConnector(EndpointContext(name="sf", object="Account", options=opts, fields=("Name",),
                                               retry=RetryPolicy(sleep=lambda s: None)))


def test_jwt_bearer_login_and_refresh(keys, tmp_path):
    private, public = keys
    with FakeSalesforce(jwt_public_key=public) as fake:
        fake.add(Name="Via JWT")
        key_file = tmp_path / "server.key"
        key_file.write_text(private, encoding="ascii")
        connector = jwt_connector(fake, private_key_file=str(key_file))
        assert [r.payload["Name"] for r in connector.read_changes(None)] == ["Via JWT"]
        fake.expire_tokens()
        assert len(list(connector.read_changes(None))) == 1
        assert fake.token_requests == 2
        assert private not in repr(connector.options)


def test_jwt_wrong_key_or_user_is_an_auth_error(keys):
    private, public = keys
    other_private, _ = _key_pair()
    with FakeSalesforce(jwt_public_key=public) as fake:
        with pytest.raises(AuthError, match="invalid_grant: invalid assertion") as info:
            list(jwt_connector(fake, private_key=other_private).read_changes(None))
        assert other_private not in str(info.value)
        with pytest.raises(AuthError, match="invalid_grant"):
            list(jwt_connector(fake, private_key=private, username="someone@else.example").read_changes(None))


def test_jwt_unusable_key_is_a_config_error():
    with FakeSalesforce() as fake, pytest.raises(ConfigError, match="not a usable RSA private key"):
        list(jwt_connector(fake, private_key="-----BEGIN PRIVATE KEY-----\nnope\n").read_changes(None))
