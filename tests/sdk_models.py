"""What each generation of Prove's TypeScript server SDK requires of a reply, as JSON Schema.

Facts from ../shared/reference/current-generation.md (the SDK models, version by version; nothing is
copied from the SDKs). The SDKs drop keys they do not know, so these schemas constrain only the
fields an SDK reads: a required field that is missing, a wrong type, or a null fails its parse.
"""

from __future__ import annotations

from typing import Any

STRING = {"type": "string"}
STRINGS = {"type": "array", "items": STRING}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def array_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


IDENTITY_0_13_2 = obj({"assuranceLevel": STRING, "reasons": STRINGS, "firstName": STRING, "lastName": STRING,
                       "clientCustomerId": STRING}, {"clientHumanId": STRING, "proveId": STRING,
                                                     "provePhoneAlias": STRING})
ADDRESS = obj({}, {name: STRING for name in ("address", "extendedAddress", "city", "region", "zipCode")})
IDENTITY_0_14_9 = obj({"assuranceLevel": STRING, "reasons": STRINGS}, {
    "firstName": STRING, "lastName": STRING, "dateOfBirth": STRING, "nationalId": STRING, "emails": STRINGS,
    "addresses": array_of(ADDRESS), "minAge": INTEGER, "maxAge": INTEGER})
EVALUATION = {"type": "object", "additionalProperties": {"type": "object"}}

VERIFY = {
    "0.13.2": obj({"success": STRING, "correlationId": STRING, "phoneNumber": STRING, "identity": IDENTITY_0_13_2},
                  {"clientRequestId": STRING, "additionalIdentities": array_of(
                      obj({"assuranceLevel": STRING, "reasons": STRINGS}, {"firstName": STRING, "lastName": STRING})),
                   "evaluation": EVALUATION}),
    "0.14.9": obj({"success": STRING, "correlationId": STRING, "phoneNumber": STRING}, {
        "clientRequestId": STRING, "clientCustomerId": STRING, "clientHumanId": STRING, "proveId": STRING,
        "provePhoneAlias": STRING, "isEnrolled": BOOLEAN, "identity": IDENTITY_0_14_9,
        "additionalIdentities": array_of(IDENTITY_0_14_9), "evaluation": EVALUATION,
        "businesses": array_of({"type": "object"})}),
}
VERIFY_BATCH = {
    "0.13.2": obj({"correlationId": STRING}, {"clientRequestId": STRING, "results": array_of(
        obj({"success": STRING, "phoneNumber": STRING, "identity": IDENTITY_0_13_2}, {"error": STRING}))}),
    "0.14.9": obj({"correlationId": STRING}, {"clientRequestId": STRING, "results": array_of(obj(
        {"success": STRING, "phoneNumber": STRING, "assuranceLevel": STRING, "clientCustomerId": STRING},
        {"identity": IDENTITY_0_14_9, "additionalIdentities": array_of(IDENTITY_0_14_9), "clientHumanId": STRING,
         "proveId": STRING, "provePhoneAlias": STRING, "evaluation": EVALUATION, "error": STRING}))}),
}
ENROL = {"0.10.0": obj({"identityId": STRING, "success": BOOLEAN}), "0.14.7": obj({"proveId": STRING, "success": BOOLEAN})}
IDENTITY_RECORD = {
    "0.10.0": obj({"phoneNumber": STRING}, {"identityId": STRING, "active": BOOLEAN, "createdAt": INTEGER}),
    "0.14.7": obj({"phoneNumber": STRING}, {"proveId": STRING, "active": BOOLEAN, "createdAt": INTEGER}),
}
BATCH_ENROL = {
    "0.10.0": obj({}, {"results": array_of(obj({}, {"identityId": STRING, "error": STRING}))}),
    "0.14.7": obj({}, {"results": array_of(obj({}, {"proveId": STRING, "error": STRING}))}),
}
CROSS_ITEM = obj({"clientName": STRING, "identityId": STRING, "pcid": STRING})
CROSS_DOMAIN = {
    "0.13.1": obj({"count": INTEGER, "identites": array_of(CROSS_ITEM)}),  # sic: the SDK's spelling then
    "0.14.0": obj({"count": INTEGER, "identities": array_of(CROSS_ITEM)}),
}
DISCOVER = {
    # 0.14.7 parsed discover's reply as fetch's (corrected in 0.14.8).
    "0.14.7": obj({}, {"results": array_of(obj({"attributeId": STRING, "issuerId": STRING, "attributeValue": STRING}))}),
    "0.14.8": obj({}, {"results": array_of(obj({}, {"attributeId": STRING, "issuerId": STRING}))}),
}
FETCH = {"0.14.6": obj({"results": array_of(obj({"attributeId": STRING, "issuerId": STRING,
                                                 "attributeValue": STRING}))})}
DOMAIN_ID = {"0.13.0": obj({"pcid": STRING, "name": STRING}), "0.14.7": obj({"pcid": STRING, "name": STRING,
                                                                            "issuerId": STRING})}
SUCCESS = {"0.13.0": obj({"success": BOOLEAN})}
UNIFY_STATUS = {
    "0.9.6": obj({"phoneNumber": STRING}),  # its success was mistyped as an object (README): not checked
    "0.14.9": obj({"success": STRING}, {"phoneNumber": STRING, "proveId": STRING, "deviceId": STRING,
                                        "clientHumanId": STRING, "clientRequestId": STRING,
                                        "evaluation": EVALUATION}),
}
AUTH_START = {"0.14.0": obj({"authId": STRING, "authToken": STRING}, {"universalRedirectUrl": STRING})}
AUTH_SUBJECT_ERROR = obj({"message": STRING}, {"code": INTEGER})
AUTH_FINISH = {"0.14.0": obj({"authId": STRING, "appNamespace": STRING, "subjects": obj({}, {
    "mobile": obj({}, {"success": obj({"authenticatorType": STRING, "claim": obj({"mobileNumber": STRING})},
                                      {"createdAt": INTEGER}),
                       "error": AUTH_SUBJECT_ERROR}),
    "device": obj({}, {"success": obj({"claim": obj({"deviceId": STRING})}, {"createdAt": INTEGER}),
                       "error": AUTH_SUBJECT_ERROR}),
})})}
AUTH_CONTINUE = {"0.14.0": obj({"subjects": obj({}, {"mobile": obj({"success": BOOLEAN},
                                                                  {"error": AUTH_SUBJECT_ERROR})})})}
