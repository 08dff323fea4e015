// Package exchange fetches partners' hash lists over HTTP, a page at a
// time, each page with the checkpoint that covers it: the network half of
// fetching from the exchanges on a schedule. It does not store anything;
// the caller (package server's Scheduler) imports each page and stores its
// checkpoint in the same write (index.Import.SetCheckpoint).
//
// # Pages and checkpoints
//
// A Fetcher is made by New from a Config (the kind, its base URL and
// settings), Credentials and Options. Fetcher.Next(ctx, cp) fetches the
// page after checkpoint cp (the empty Checkpoint starts from the
// beginning, or Config.Since) and returns a Page: its records, as
// hashlist.Record (index/hashlist's, so the importer takes them
// unchanged), the Checkpoint just after them, and More, which says that
// another page is ready now. The caller loops:
//
//	cp := stored checkpoint
//	for {
//		p, err := f.Next(ctx, cp)
//		if err != nil { record the error; break }      // cp is still where to resume
//		import p.Records and store p.Checkpoint, in one write
//		cp = p.Checkpoint
//		if !p.More { break }                            // caught up: wait for the interval
//	}
//
// A page is all or nothing: a response that is truncated, malformed or
// over the size limit is an error and no record of it is returned.
// Records within a page give one id twice only if the exchange's page
// does (the importer keeps the first version). Item ids are stable
// across pages and fetches (the exchange's own id, else
// "<signal type>-<hex>" of the hash; see hashlist), puts replace the item
// of the same id and deletes of absent ids do nothing, so a page applied
// twice changes nothing. Hence a crash anywhere resumes from the last
// stored checkpoint without losing or duplicating an item: the pages
// after it are fetched again, and at worst a run's pages are applied
// again. Records that hashlist refuses (a hash type mediamatch does not
// store, such as TMK or SHA-512; a malformed entry) are skipped and
// counted in Page.Rejected.
//
// A Checkpoint is an opaque string, in fact JSON with the kind and a
// version ({"kind":"tcap","v":1,...}); a checkpoint of another kind is
// ErrCheckpoint. It never holds a credential.
//
// # Retries
//
// Every request has a timeout (Options.RequestTimeout, 2 minutes, body
// included) and a body limit (Options.MaxBodyBytes, 512 MiB, said in the
// error). Network errors, bodies cut short, 408, 429 and 5xx are retried
// with exponential backoff and jitter (RetryPolicy: 6 attempts, 1s
// doubling to at most 1 minute, each less a random part of up to half),
// through Options.Sleep, which tests replace; a 429 or 503 with
// Retry-After (seconds or an HTTP date, RFC 9110 section 10.2.3) waits
// what it says instead, at most RetryPolicy.MaxRetryAfter (10 minutes).
// Retries spent are ErrUnavailable: try again at the next interval. 401
// and 403 (and the Graph API's 400 OAuthException for a bad token) are
// ErrAuth, not retried: the scheduler should stop the exchange and show
// it. Other 4xx are ErrRefused. Errors are *Error values whose text names
// the kind, method and URL with secret parameters replaced by REDACTED,
// and from which every credential of the exchange is removed, even when
// the server repeats it; they wrap no error that could hold one.
// Redirects are followed only on the same host.
//
// # Kinds
//
// url: GET of BaseURL, the list file, in any format hashlist reads
// (Config.Format, or detected). The request carries If-None-Match and
// If-Modified-Since from the last response; a 304 is an empty page with
// the same checkpoint, and so is a 200 whose body hashes as the last one
// did. A changed file replaces the last: the page holds its records and
// a delete for each id of the last file it no longer lists. The ids of
// the last file are in the checkpoint, so the diff is made against
// exactly what the stored checkpoint covers, and a crash mid-fetch
// leaves the previous file's items and ids together (the caller diffing
// against the bank instead would delete items added to the bank by
// hand). An empty body, a list of bad records only, or a line list that
// ends in a bad unfinished line (cut short) is ErrBadPage rather than a
// reason to delete everything. Optional credentials: a bearer token, or
// basic authentication.
//
// threatexchange: GET {base}/{version}/{privacy group}/threat_updates
// with access_token, fields (id, indicator, type, creation_time,
// last_updated, should_delete, tags), limit (Config.PageSize, 1000),
// types (HASH_PDQ, HASH_MD5, HASH_VIDEO_MD5), start_time and stop_time;
// pages {"data": [...], "paging": {"next": URL}} followed to the end;
// should_delete retracts. A run covers start_time (where the last run got
// to) to stop_time (now when it began); its checkpoints hold that window,
// the next page's URL without the access token, and the latest
// last_updated seen, so a crash mid-run resumes at the next page of the
// same run; the last page starts the next run at the latest last_updated
// seen (inclusive: an update in that second is fetched again rather than
// lost). A paging.next on another host is refused (the token would go
// there). ThreatExchange keeps delete events for 90 days: an exchange
// not fetched for longer may keep items deleted meanwhile, and should be
// fetched again from the empty checkpoint into an emptied bank. https://developers.facebook.com/docs/threat-exchange/reference/apis/threat-updates/
// and python-threatexchange's fb_threatexchange client.
//
// tcap: GET {base}/api/hash-list/v2/{ideology}?order=asc&after={checkpoint}
// (the public client asks for "all" only; the other ideologies' paths
// follow the v1 API's form and are not confirmed)
// with "Authorization: Bearer {token}"; pages {"count", "next",
// "previous", "checkpoint", "results": [{"id", "hash_digest",
// "algorithm", "deleted", ...}]}; deleted retracts. TCAP's checkpoint
// ("<time>,<id>" of the page's last entry) is ours; "next" null ends the
// pull. The token is Credentials.Token, or is obtained by POST
// {base}/token-auth/tcap/ with username and password, and obtained again
// once on a 401. https://terrorismanalytics.org/docs/hash-list-v1 and
// python-threatexchange's techagainstterrorism client.
//
// stopncii: GET {base}/FetchHashes?startTimestamp=&pageSize=&nextPageToken=
// with the headers Ocp-Apim-Subscription-Key and x-functions-key; pages
// {"count", "nextPageToken", "nextSetTimestamp", "hasMoreRecords",
// "hashRecords": [{"signalType", "hashValue", "hashStatus", ...}]}; a
// hashStatus other than Active retracts. Records have no ids: the hash is
// the item ("pdq-<hex>"). A run follows nextPageToken while
// hasMoreRecords; the last page's nextSetTimestamp starts the next. A page
// token refused mid-run (they expire) restarts the run from its start.
// python-threatexchange's stopncii client.
//
// ncmec: GET {base}/v2/entries?from=&to= (UTC, 2006-01-02T15:04:05.000Z)
// with HTTP basic authentication; XML <queryResult> with <images> and
// <videos> of <image>, <video>, <deletedImage> and <deletedVideo>, and
// <paging><next>, a path under the base URL with start, size and max. A
// run covers from (the last run's to, less 5 minutes for clock skew:
// to is our clock) to now; entries are not in time order, so only the
// run's last page moves from on. Resuming a run from
// a stored next link relies on its start being an entry id, as
// python-threatexchange reads it, not an offset.
// https://report.cybertip.org/hashsharing/v2/documentation.pdf and
// python-threatexchange's ncmec client.
//
// # Credentials
//
// Credentials come from a file of mode 0600 or stricter (LoadCredentials)
// or an environment variable named in the configuration
// (CredentialsFromEnv): a JSON object of token, username, password,
// subscription_key and function_key, or a token alone. Their String,
// GoString, LogValue and MarshalJSON name the fields set, never a value.
//
// # Imports
//
// It imports net/http, the standard library's codecs, api/mediamatch and
// index/hashlist, and never index, gRPC or the command line.
package exchange
