package io.nemu.shim.mount;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** mount(8) / umount(8) for the few bind mounts the shim makes. */
public final class Mounts {
    private Mounts() {
    }

    /** Runs mount with the given arguments; throws with mount's message on failure. */
    public static void mount(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("mount");
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        if (p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    /** Lazy unmount ({@code umount -l}); throws with umount's own message when it fails or hangs. */
    public static void umount(String point, Duration timeout) throws IOException {
        Process p = new ProcessBuilder("umount", "-l", point).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IOException("umount -l " + point + " did not finish within " + timeout.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while unmounting " + point, e);
        }
        if (p.exitValue() != 0) {
            String out = new String(p.getInputStream().readAllBytes()).strip();
            throw new IOException("umount -l " + point + " failed: " + (out.isEmpty() ? "exit " + p.exitValue() : out));
        }
    }
}
