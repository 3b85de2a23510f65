package io.nemu.vmm.template;

import io.nemu.vmm.process.ProcessTools;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A template's RAM file, kept sparse. Each page a clone touches lands in the template's tmpfs file before the clone
 * gets its private copy (zero-filled where the template never wrote it), so the file grows towards the guest's RAM
 * size: host memory that no process's PSS shows. Its zero-filled pages are punched out again (util-linux
 * {@code fallocate --dig-holes}) once the template is saved and whenever a clone ends. Safe while clones run: nothing
 * writes the file once it is saved, so it reads the same, and a clone's own copies are private.
 */
public final class TemplateRam {
    private static final Logger log = LoggerFactory.getLogger(TemplateRam.class);
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    private TemplateRam() {
    }

    /** Punches the zero-filled pages out of {@code memoryFile}; failures are logged (the file only stays larger). */
    public static void digHoles(Path memoryFile) {
        OptionalLong before = heldBytes(memoryFile);
        long t0 = System.nanoTime();
        String out = run(List.of("fallocate", "--dig-holes", memoryFile.toString()));
        if (out != null) {
            log.warn("template RAM {}: its zero pages stay: fallocate --dig-holes: {}", memoryFile, out);
            return;
        }
        OptionalLong after = heldBytes(memoryFile);
        log.info("template RAM {}: {} MiB held, {} MiB after punching its zero pages ({} ms)", memoryFile,
                before.isPresent() ? before.getAsLong() >> 20 : "?", after.isPresent() ? after.getAsLong() >> 20 : "?",
                (System.nanoTime() - t0) / 1_000_000);
    }

    /** The bytes {@code file} holds on its file system (on a tmpfs: memory), as {@code stat} counts its blocks. */
    public static OptionalLong heldBytes(Path file) {
        StringBuilder out = new StringBuilder();
        if (run(List.of("stat", "-c", "%b %B", file.toString()), out) != null) {
            return OptionalLong.empty();
        }
        String[] f = out.toString().strip().split(" ");
        try {
            return f.length == 2 ? OptionalLong.of(Long.parseLong(f[0]) * Long.parseLong(f[1])) : OptionalLong.empty();
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    private static String run(List<String> argv) {
        return run(argv, new StringBuilder());
    }

    /** Runs {@code argv} with its output into {@code out}; null when it exited 0, else what went wrong. */
    private static String run(List<String> argv, StringBuilder out) {
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            // A few lines at most: they fit the pipe, so waiting first bounds a stuck tool.
            Integer code = ProcessTools.waitFor(p, TIMEOUT);
            if (code == null) {
                ProcessTools.kill(p);
                return "still running after " + TIMEOUT.toSeconds() + " s (killed)";
            }
            out.append(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            return code == 0 ? null : "exit " + code + ": " + out.toString().strip();
        } catch (IOException e) {
            return e.getMessage();
        }
    }
}
