package io.nemu.firmware;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

final class DiskSpace {
    private DiskSpace() {
    }

    /** Fails early, naming the directory, when fewer than {@code bytes} are free there. */
    static void require(Path dir, long bytes, String forWhat) throws IOException {
        Path p = dir;
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        if (p == null) {
            return;
        }
        long free = Files.getFileStore(p).getUsableSpace();
        if (free < bytes) {
            throw new FirmwareException("no space: " + dir + " has " + (free >> 20) + " MiB free, "
                    + forWhat + " needs about " + (bytes >> 20) + " MiB");
        }
    }

    /** Rewords ENOSPC so that the message says what ran out, and where. */
    static IOException explain(IOException e, Path where) {
        String msg = String.valueOf(e.getMessage());
        if (msg.contains("No space left")) {
            return new FirmwareException("no space left on device while writing " + where, e);
        }
        return e;
    }
}
