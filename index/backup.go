package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
)

// A backup file is
//
//	"mediamatch-backup 1\n"
//	Badger's backup stream (the store's entries, as DB.Backup writes them)
//	version (8 bytes, big endian): the store version the backup covers
//	since (8 bytes, big endian): 0 for a full backup, else the first version an incremental one holds
//	SHA-256 (32 bytes) of everything before it
//	"mediamatch-backup end\n"
const (
	backupMagic = "mediamatch-backup 1\n"
	backupEnd   = "mediamatch-backup end\n"
	trailerLen  = 8 + 8 + sha256.Size + len(backupEnd)
)

// ErrBadBackup means a file is not a whole mediamatch backup: not one at
// all, cut short, or changed since it was written (its checksum differs).
var ErrBadBackup = errors.New("index: not a whole mediamatch backup (wrong header, cut short, or checksum mismatch)")

// BackupInfo says what a backup covers.
type BackupInfo struct {
	// Version is the store version the backup covers: it holds every write
	// committed at or before it and none after. An incremental backup
	// since Version+1 continues it.
	Version uint64
	// Since is 0 for a full backup, else the first version the
	// (incremental) backup holds.
	Since uint64
}

// Backup writes to w a consistent snapshot of the store (Badger's backup
// stream of one read timestamp, so a write, an import included, is in it
// whole or not at all; an import not yet committed leaves only staging
// that Open discards), of the writes from version since on (0: all), with
// its checksum, and returns what it covers. Readers and writers go on
// meanwhile. Errors: ctx's, w's, the store's; mediamatch.ErrClosed. Safe
// for concurrent use.
func (ix *Index) Backup(ctx context.Context, w io.Writer, since uint64) (BackupInfo, error) {
	if err := ix.enter(ctx); err != nil {
		return BackupInfo{}, err
	}
	defer ix.exit()
	h := sha256.New()
	cw := &ctxWriter{ctx: ctx, w: io.MultiWriter(w, h)}
	if _, err := io.WriteString(cw, backupMagic); err != nil {
		return BackupInfo{}, err
	}
	v, err := ix.st.db.Backup(cw, since)
	if err != nil {
		if cw.err != nil {
			return BackupInfo{}, cw.err
		}
		return BackupInfo{}, fmt.Errorf("index: backup: %w", err)
	}
	if v < since {
		v = max(since, 1) - 1 // nothing written since: covers what it was asked from
	}
	info := BackupInfo{Version: v, Since: since}
	var tail [16]byte
	binary.BigEndian.PutUint64(tail[:8], info.Version)
	binary.BigEndian.PutUint64(tail[8:], info.Since)
	if _, err := cw.Write(tail[:]); err != nil {
		return BackupInfo{}, err
	}
	if _, err := w.Write(append(h.Sum(nil), backupEnd...)); err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
	err error
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// VerifyBackup reads a whole backup and returns what it covers, or an
// error wrapping ErrBadBackup if it is not a whole, unchanged backup.
func VerifyBackup(r io.ReadSeeker) (BackupInfo, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return BackupInfo{}, err
	}
	if size < int64(len(backupMagic)+trailerLen) {
		return BackupInfo{}, fmt.Errorf("%w: %d bytes", ErrBadBackup, size)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return BackupInfo{}, err
	}
	h := sha256.New()
	body := size - int64(trailerLen) + 16 // magic, stream, version, since
	head := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(r, head); err != nil {
		return BackupInfo{}, err
	}
	if string(head) != backupMagic {
		return BackupInfo{}, fmt.Errorf("%w: no header", ErrBadBackup)
	}
	h.Write(head)
	if _, err := io.CopyN(h, r, body-int64(len(head))-16); err != nil {
		return BackupInfo{}, err
	}
	tail := make([]byte, trailerLen)
	if _, err := io.ReadFull(r, tail); err != nil {
		return BackupInfo{}, err
	}
	info, err := checkTrailer(h, tail)
	if err != nil {
		return BackupInfo{}, err
	}
	return info, nil
}

func checkTrailer(h hash.Hash, tail []byte) (BackupInfo, error) {
	h.Write(tail[:16])
	if !bytes.Equal(h.Sum(nil), tail[16:16+sha256.Size]) || string(tail[16+sha256.Size:]) != backupEnd {
		return BackupInfo{}, fmt.Errorf("%w: checksum mismatch", ErrBadBackup)
	}
	return BackupInfo{Version: binary.BigEndian.Uint64(tail[:8]), Since: binary.BigEndian.Uint64(tail[8:16])}, nil
}

// Restore loads the backup in r into the store in dir, offline (no server
// may run on dir). It verifies the whole file first and writes nothing if
// it is bad. A full backup (Since 0) goes into a dir that is empty or does
// not exist; an incremental one onto the store it continues. The next
// Open of dir discards what an import had only staged. Errors wrap
// ErrBadBackup for a bad file; the store's errors otherwise.
func Restore(dir string, r io.ReadSeeker, log *slog.Logger) (BackupInfo, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	info, err := VerifyBackup(r)
	if err != nil {
		return BackupInfo{}, err
	}
	ents, err := os.ReadDir(dir)
	switch {
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return BackupInfo{}, fmt.Errorf("index: restore: %w", err)
	case info.Since == 0 && len(ents) > 0:
		return BackupInfo{}, fmt.Errorf("index: restore: %s is not empty: a full backup is restored into an empty data dir", dir)
	case info.Since > 0 && len(ents) == 0:
		return BackupInfo{}, fmt.Errorf("index: restore: %s is empty: an incremental backup (since version %d) goes onto the store it continues", dir, info.Since)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return BackupInfo{}, fmt.Errorf("index: restore: %w", err)
	}
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return BackupInfo{}, err
	}
	if _, err := r.Seek(int64(len(backupMagic)), io.SeekStart); err != nil {
		return BackupInfo{}, err
	}
	st, err := openStoreMode(dir, log, false)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := st.db.Load(io.LimitReader(r, size-int64(len(backupMagic))-int64(trailerLen)), 256); err != nil {
		st.close()
		return BackupInfo{}, fmt.Errorf("index: restore: %w", err)
	}
	if err := st.close(); err != nil {
		return BackupInfo{}, fmt.Errorf("index: restore: %w", err)
	}
	return info, nil
}
