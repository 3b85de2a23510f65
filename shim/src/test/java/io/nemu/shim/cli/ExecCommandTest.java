package io.nemu.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class ExecCommandTest {
    private static ExecCommand parse(String... args) {
        ExecCommand c = new ExecCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void everythingAfterTheSandboxIsTheCommandOptionsIncluded() {
        ExecCommand c = parse("abc", "uname", "-r");
        assertEquals("abc", c.sandbox);
        assertEquals(List.of("uname", "-r"), c.command);
        assertNull(c.tty, "a terminal only when stdin and stdout are one");
        ExecCommand t = parse("--no-tty", "abc", "sh", "-c", "echo --tty");
        assertEquals(Boolean.FALSE, t.tty);
        assertEquals(List.of("sh", "-c", "echo --tty"), t.command);
        assertEquals(List.of(), parse("abc").command, "no command: a shell");
    }

    @Test
    void uptimeIsShort() {
        assertEquals("42s", PsCommand.uptime(Duration.ofSeconds(42)));
        assertEquals("3m05s", PsCommand.uptime(Duration.ofSeconds(185)));
        assertEquals("2h01m", PsCommand.uptime(Duration.ofMinutes(121)));
    }
}
