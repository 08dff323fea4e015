// Package hashlist reads and writes partner hash lists as index items.
//
// It knows the formats in which partners share the hashes of known media,
// as the public clients of ThreatExchange, NCMEC, StopNCII and Tech Against
// Terrorism's TCAP read and write them:
//
//   - lines: python-threatexchange's local file, "<hash>" or
//     "<signal_type> <hash>" per line;
//   - pdq: the PDQ reference hasher's output, "hash,quality,filename";
//   - te-csv: python-threatexchange's dataset CSV
//     (signal_type,signal_str,collab,category,tags);
//   - te-simple: ThreatExchange's simple CSV
//     (indicator,indicator_id,first_descriptor_id,added_on,labels);
//   - te-updates: ThreatExchange threat_updates JSON, one object per line or
//     {"data":[...],"paging":...} pages, several pages concatenated;
//   - tcap: Tech Against Terrorism's TCAP list, {"count","checkpoint","results":[...]};
//   - ncmec: NCMEC's hash-sharing XML, <queryResult><images>... and <videos>;
//   - stopncii: StopNCII's {"hashRecords":[...]};
//   - vpdq: vPDQ's per-frame file, the whole file one video item;
//   - jsonl: mediamatch's own JSON lines, which carry every field of an item
//     so that an export imports back unchanged.
//
// Detect tells them apart by content. A Reader turns a list into Records,
// one item (or one retraction) each, in memory that does not grow with the
// length of the list: line formats are read line by line, JSON and XML
// documents token by token with one record decoded at a time (a record is
// bounded by ReaderOptions.MaxLineBytes). A UTF-8 byte order mark at the
// start is skipped, CRLF line ends are accepted, blank lines and (in line
// formats) lines starting with '#' are skipped, and hex is read in either
// case and kept as bytes (written lowercase). A Writer writes items in the
// formats that mediamatch exports (all but tcap, ncmec and stopncii); see
// Writer for what each keeps.
//
// # Bad records
//
// A bad record is returned by Reader.Next as a *LineError naming its line
// and what was wrong: a hash of the wrong length or not hex, a constant
// hash (every byte the same, such as all zeros or all ones), an unknown
// signal type, a known one that mediamatch does not store (TMK, SHA-512,
// vPDQ in a one-hash list, URLs, ...), a PDQ quality under 50, a missing
// field, a bad time, an id or labels the index refuses, a line longer than
// ReaderOptions.MaxLineBytes, a JSON record of the wrong shape. The reader
// then goes on with the next record, and the caller decides whether to
// stop or skip. Any other error is fatal and returned again by every later
// call: reading failed, the JSON or XML is not well formed (it cannot be
// resynchronised), a CSV header is not the format's, a JSON or XML record
// is longer than MaxLineBytes. A vPDQ file is one record: a bad line makes
// the whole file one *LineError.
//
// # Ids
//
// Ids are deterministic, so that importing a list again puts the same
// items: the list's own id where the format has one (te-simple
// indicator_id, te-updates id, TCAP id, NCMEC <id>), as it is; else
// "<signal type>-<lowercase hex>" of the record's first hash ("pdq-f8f8f0ce...",
// at most 71 bytes); for a vPDQ file ReaderOptions.ID, or "vpdq-" and 32
// hex digits of the SHA-256 of its frames as mediamatch.WriteVPDQ writes
// them. A retraction needs only its id (and, in stopncii, which has no ids,
// its hash). Two records of one list with the same id are two puts of one
// item: the later wins.
//
// # Signals
//
// Type names are matched case-insensitively: pdq, HASH_PDQ and ImagePDQ
// are PDQ, kept in the single keyframe of an image; md5, photo_md5 and
// HASH_MD5 are the MD5 of an image, video_md5, HASH_VIDEO_MD5 and VideoMD5
// of a video, kept as file signals, as are sha256 and HASH_SHA256; phash
// and dhash are keyframe signals. The media is a video if the type says so,
// if the record is tagged media_type_video, if it is an NCMEC <video>, or
// if TCAP's file_type is a video container (mp4, webm, mov, ...); else an
// image. A hash listed without a type (lines, te-simple) is of
// ReaderOptions.SignalType if set, else MD5 if it has 32 hex digits, else
// PDQ. An NCMEC record keeps the fingerprints mediamatch stores and drops
// the others (sha1, pdna, ...); it is bad only if none is left.
//
// PDQ hashes listed without a quality (every format but pdq, vpdq and
// jsonl) get DefaultQuality (100), as the command line's hash lists do: a
// shared list holds only hashes its producer found good enough to match,
// and the index never matches a PDQ hash under quality 50, so any lower
// number would make the list useless. Lists that give a quality keep it,
// and one under 50 makes the record bad, except in vPDQ, whose frames keep
// their quality (a video may have some dark frames) and whose constant
// frames are marked LowInformation; a vPDQ file without any matchable frame
// is bad.
//
// # Labels and provenance
//
// The list's own fields become labels under fixed keys, left out when
// empty: "category" and "collab" (te-csv), "first_descriptor_id"
// (te-simple), "status", "share_level", "review_status" and "confidence"
// (te-updates, from the first descriptor), "ideology" and "file_type"
// (tcap), "classification" and "member_id" (ncmec), "status" (stopncii),
// "filename" (pdq). The partner's tag strings (te-csv tags, te-simple
// labels, te-updates tags) are kept verbatim in Source.Tags and also become
// labels "tag:<tag>" with an empty value, as long as the key fits (at most
// 64 bytes) and the item has fewer than mediamatch.MaxLabels labels; tags that
// do not fit stay in Source.Tags only.
//
// Source.Format is the list's format, Source.Partner the collab (te-csv),
// descriptor owner (te-updates) or NCMEC member name, else
// ReaderOptions.Partner; Source.UpstreamID the list's own id;
// Source.FirstSeen added_on, creation_time, created_on or the NCMEC
// timestamp; Source.Updated last_updated, updated_on or lastModtimestamp.
// Times are read as ISO 8601 or Unix seconds and kept in UTC. jsonl
// records keep their own Source and Bank, as written.
//
// # Imports
//
// Package server's ImportSignals and ExportSignals read and write lists with
// it, and the command line's add writes its items as one jsonl list. It imports api/mediamatch and index (for
// the item it reads into and the rules an item obeys) and never
// fingerprint, server, gRPC or the command line: a list is text in and
// items out.
package hashlist
