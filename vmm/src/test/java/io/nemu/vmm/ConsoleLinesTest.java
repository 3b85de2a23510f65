package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConsoleLinesTest {
    @TempDir
    Path tmp;

    @Test
    void findsLinesAsTheLogGrows() throws Exception {
        Path log = Files.writeString(tmp.resolve("console.log"), "booting\r\nREA");
        Pattern ready = Pattern.compile("^READY (\\S+)$");
        try (ConsoleLines lines = new ConsoleLines(log)) {
            assertTrue(lines.readMore());
            assertNull(lines.nextMatch(ready));
            assertFalse(lines.readMore());
            Files.writeString(log, "DY 6.1\r\nlater\n", StandardOpenOption.APPEND);
            assertTrue(lines.readMore());
            assertEquals("READY 6.1", lines.nextMatch(ready));
            assertNull(lines.nextMatch(ready));
        }
    }

    @Test
    void anUnfinishedLastLineMatchesOnlyWhenAskedFor() throws Exception {
        Path log = Files.writeString(tmp.resolve("console.log"), "one\npanic: no init");
        try (ConsoleLines lines = new ConsoleLines(log)) {
            lines.readMore();
            Pattern panic = Pattern.compile("panic");
            assertNull(lines.nextMatch(panic));
            assertEquals("panic: no init", lines.unfinishedMatch(panic));
            assertNull(lines.unfinishedMatch(Pattern.compile("one")));
        }
    }
}
