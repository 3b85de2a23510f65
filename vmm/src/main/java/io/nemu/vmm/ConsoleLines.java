package io.nemu.vmm;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Pattern;

/** Reads a growing console log line by line (QEMU appends to it while the guest runs). */
public final class ConsoleLines implements AutoCloseable {
    private static final int MAX_READ = 1 << 20;

    private final RandomAccessFile file;
    private long offset;
    /** Read but not yet scanned: complete lines, then the unfinished last one. */
    private final StringBuilder pending = new StringBuilder();

    public ConsoleLines(Path log) throws IOException {
        this.file = new RandomAccessFile(log.toFile(), "r");
    }

    /** Reads what was appended since the last call (up to 1 MiB); false if nothing was. */
    public boolean readMore() throws IOException {
        long len = file.length();
        if (len <= offset) {
            return false;
        }
        byte[] buf = new byte[(int) Math.min(len - offset, MAX_READ)];
        file.seek(offset);
        file.readFully(buf);
        offset += buf.length;
        pending.append(new String(buf, StandardCharsets.UTF_8));
        return true;
    }

    /** Consumes complete lines up to the first that matches and returns it (without CR); null if none did. */
    public String nextMatch(Pattern pattern) {
        int nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
            String line = pending.substring(0, nl).replace("\r", "");
            pending.delete(0, nl + 1);
            if (pattern.matcher(line).find()) {
                return line;
            }
        }
        return null;
    }

    /** The last line if it matches though it has no line end yet (the guest is gone), else null. */
    public String unfinishedMatch(Pattern pattern) {
        return pattern.matcher(pending).find() ? pending.toString() : null;
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
