package io.nemu.shim.sandbox;

import io.nemu.vmm.ConsoleLines;
import java.io.IOException;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code [agent.kata] enable_debug}: every line the guest writes on its serial console (the agent's log, {@code
 * /init}'s, the kernel's) copied into the shim's log as it appears, so the agent's log reads beside the shim's
 * with the sandbox id. The console log itself stays in the VM's run folder either way.
 */
final class GuestConsoleLog implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GuestConsoleLog.class);
    private static final Pattern ANY = Pattern.compile("");
    private static final long POLL_MS = 250;

    private final String sandboxId;
    private final Path console;
    private final Thread thread;
    private volatile boolean closed;

    private GuestConsoleLog(String sandboxId, Path console) {
        this.sandboxId = sandboxId;
        this.console = console;
        this.thread = new Thread(this::follow, "guest-console-" + sandboxId.substring(0, Math.min(12, sandboxId.length())));
        thread.setDaemon(true);
    }

    static GuestConsoleLog start(String sandboxId, Path console) {
        GuestConsoleLog g = new GuestConsoleLog(sandboxId, console);
        g.thread.start();
        return g;
    }

    private void follow() {
        try (ConsoleLines lines = new ConsoleLines(console)) {
            boolean last = false;
            while (!last) {
                last = closed; // one more read after close: the lines written before the VM stopped
                if (!lines.readMore()) {
                    if (!last) {
                        Thread.sleep(POLL_MS);
                    }
                    continue;
                }
                String line;
                while ((line = lines.nextMatch(ANY)) != null) {
                    if (!line.isBlank()) {
                        log.info("guest {}: {}", sandboxId, line.strip());
                    }
                }
            }
        } catch (IOException e) {
            log.warn("sandbox {}: cannot follow the guest console {}: {}", sandboxId, console, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Stops following after reading what the console holds now. */
    @Override
    public void close() {
        closed = true;
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
