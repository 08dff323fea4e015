package fingerprint

import (
	"context"
	"fmt"
)

// hashVideo is replaced by the ffmpeg pipeline.
func (h *Hasher) hashVideo(ctx context.Context, data []byte) (Media, error) {
	return Media{}, fmt.Errorf("%w: video not implemented yet", ErrUnsupported)
}
