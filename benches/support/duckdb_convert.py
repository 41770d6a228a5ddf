"""The baseline: DuckDB converting a CloudTrail corpus to account/region/date partitioned zstd
Parquet, reading `Records` with an explicit schema (typed scalars and identity, the free-form
fields as JSON: its lossless form).

Usage: python duckdb_convert.py CORPUS_DIR OUT_DIR THREADS
Prints one JSON line: {"records": N}.
"""
import json
import sys

import duckdb

corpus, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
S = "VARCHAR"
issuer = f"STRUCT(type {S}, principalId {S}, arn {S}, accountId {S}, userName {S})"
# every userIdentity key trailpipe's schema types (a key missing here is dropped by DuckDB)
identity = (
    f"STRUCT(type {S}, principalId {S}, arn {S}, accountId {S}, accessKeyId {S}, userName {S}, invokedBy {S}, "
    f"identityProvider {S}, credentialId {S}, "
    f"sessionContext STRUCT(sessionIssuer {issuer}, "
    f"webIdFederationData STRUCT(federatedProvider {S}, attributes JSON), "
    f"attributes STRUCT(creationDate {S}, mfaAuthenticated {S}), "
    f"sourceIdentity {S}, ec2RoleDelivery {S}, assumedRoot {S}, signInSessionArn {S}), "
    f"onBehalfOf STRUCT(userId {S}, identityStoreArn {S}), "
    f"inScopeOf STRUCT(sourceArn {S}, sourceAccount {S}, issuerType {S}, credentialsIssuedTo {S}, "
    f"credentialsIssuedToVersion {S}), invokedByDelegate STRUCT(accountId {S}))"
)
record = ", ".join([
    f"eventVersion {S}", f"userIdentity {identity}", "eventTime TIMESTAMPTZ", f"eventSource {S}",
    f"eventName {S}", f"awsRegion {S}", f"sourceIPAddress {S}", f"userAgent {S}", f"errorCode {S}",
    f"errorMessage {S}", "requestParameters JSON", "responseElements JSON", "additionalEventData JSON",
    f"requestID {S}", f"eventID {S}", "readOnly BOOLEAN",
    f"resources STRUCT(ARN {S}, ARNPrefix {S}, accountId {S}, type {S})[]", f"eventType {S}",
    f"apiVersion {S}", "managementEvent BOOLEAN", f"recipientAccountId {S}", f"sharedEventID {S}",
    f"vpcEndpointId {S}", f"vpcEndpointAccountId {S}", "serviceEventDetails JSON", f"eventCategory {S}",
    f"addendum STRUCT(reason {S}, updatedFields {S}, originalRequestID {S}, originalEventID {S})",
    f"sessionCredentialFromConsole {S}", "edgeDeviceDetails JSON",
    f"tlsDetails STRUCT(tlsVersion {S}, cipherSuite {S}, clientProvidedHostHeader {S}, keyExchange {S})",
    "insightDetails JSON",
])
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute("SET TimeZone = 'UTC'")
con.execute("SET preserve_insertion_order = false")
glob = f"{corpus}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
con.execute(f"""
COPY (
  SELECT r.*, r.recipientAccountId AS account, r.awsRegion AS region, CAST(r.eventTime AS DATE) AS "date"
  FROM (SELECT unnest(Records) AS r
        FROM read_json('{glob}', records = true, format = 'auto',
                       columns = {{'Records': 'STRUCT({record})[]'}},
                       maximum_object_size = 1073741824))
) TO '{out}/cloudtrail' (FORMAT parquet, PARTITION_BY (account, region, "date"), COMPRESSION zstd)
""")
n = con.execute(f"SELECT count(*) FROM read_parquet('{out}/cloudtrail/**/*.parquet')").fetchone()[0]
print(json.dumps({"records": n}))
