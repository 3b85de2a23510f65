package io.nemu.shim.sandbox;

import io.nemu.contract.GuestContract;
import io.nemu.vmm.ConsoleLines;
import io.nemu.vmm.Vm;
import java.io.IOException;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a booting guest gave up, so that the wait for its agent ends at once with the cause instead of at the
 * dial timeout: {@code /init}'s one fatal line on the console ({@link GuestContract#GUEST_FATAL_MARKER}, printed
 * before it powers the VM off), or QEMU's exit. Reads the console as it grows, from where it left off.
 */
final class BootWatch implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BootWatch.class);
    private static final Pattern FATAL = Pattern.compile(Pattern.quote(GuestContract.GUEST_FATAL_MARKER));
    private static final Pattern ANY_TEXT = Pattern.compile("\\S");

    private final String sandboxId;
    private final Vm vm;
    private ConsoleLines console;
    private String lastLine = "";
    private String reason;

    BootWatch(String sandboxId, Vm vm) {
        this.sandboxId = sandboxId;
        this.vm = vm;
    }

    /** Why the guest will never answer (its fatal line, or QEMU's exit with the console's last line), else null. */
    synchronized String gaveUp() {
        if (reason != null) {
            return reason;
        }
        // Looked at before the console, so that an exit is judged on everything QEMU wrote before it.
        boolean exited = vm.exitFuture().isDone();
        String fatal = scan(exited);
        if (fatal != null) {
            reason = "the guest gave up at boot: " + fatal;
        } else if (exited) {
            reason = "the VM exited (QEMU exit code " + vm.exitFuture().getNow(null) + ") before its agent answered;"
                    + " last console line: '" + lastLine + "'";
        }
        if (reason != null) {
            log.warn("sandbox {}: {}", sandboxId, reason);
        }
        return reason;
    }

    /** The console's last line with text, read up to now (for the dial timeout's error). */
    synchronized String lastLine() {
        scan(vm.exitFuture().isDone());
        return lastLine;
    }

    /** Reads what the console gained; the first fatal line, else null. Keeps the last line with text. */
    private String scan(boolean ended) {
        try {
            if (console == null) {
                console = new ConsoleLines(vm.consoleLog());
            }
            while (console.readMore()) {
                String line;
                while ((line = console.nextMatch(ANY_TEXT)) != null) {
                    lastLine = shorten(line.strip());
                    if (FATAL.matcher(line).find()) {
                        return lastLine;
                    }
                }
            }
            String unfinished = ended ? console.unfinishedMatch(ANY_TEXT) : null;
            if (unfinished != null) {
                lastLine = shorten(unfinished.strip());
                if (FATAL.matcher(unfinished).find()) {
                    return lastLine;
                }
            }
        } catch (IOException e) {
            lastLine = "(cannot read the console log " + vm.consoleLog() + ": " + e.getMessage() + ")";
        }
        return null;
    }

    private static String shorten(String line) {
        return line.length() > 300 ? line.substring(0, 300) + "..." : line;
    }

    @Override
    public synchronized void close() {
        if (console != null) {
            try {
                console.close();
            } catch (IOException ignored) {
                // A read-only file: nothing to lose.
            }
        }
    }
}
