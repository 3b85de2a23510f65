package io.nemu.agent;

import java.time.LocalTime;
import java.time.temporal.ChronoUnit;

/** One line per event on stderr, prefixed so that the guest console shows whose line it is. */
public final class Log {
    private Log() {}

    private static void line(String level, String fmt, Object... args) {
        String text = args.length == 0 ? fmt : String.format(fmt, args);
        System.err.println("nemu-agent " + LocalTime.now().truncatedTo(ChronoUnit.MILLIS) + " " + level + " " + text);
    }

    public static void info(String fmt, Object... args) {
        line("INFO", fmt, args);
    }

    public static void warn(String fmt, Object... args) {
        line("WARN", fmt, args);
    }

    public static void error(String fmt, Object... args) {
        line("ERROR", fmt, args);
    }
}
