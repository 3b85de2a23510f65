package io.nemu.ttrpc;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.slf4j.LoggerFactory;

/**
 * Collects warnings and errors logged by Netty, gRPC and ttrpc, and uncaught exceptions, so a test can
 * assert that nothing went wrong unseen. gRPC logs through java.util.logging; ttrpc and Netty (which
 * picks slf4j when it is present) through slf4j, backed by logback in the tests.
 */
final class ErrorWatch implements AutoCloseable {
    private final List<String> problems = new CopyOnWriteArrayList<>();
    private final Logger julRoot = Logger.getLogger("");
    private final ch.qos.logback.classic.Logger slf4jRoot =
            (ch.qos.logback.classic.Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    private final Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
    private final Handler julHandler = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                note(r.getLoggerName(), r.getMessage(), r.getThrown() == null ? null : r.getThrown().toString());
            }
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
    };
    private final AppenderBase<ILoggingEvent> slf4jAppender = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent e) {
            if (e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN)) {
                var t = e.getThrowableProxy();
                note(e.getLoggerName(), e.getFormattedMessage(),
                        t == null ? null : t.getClassName() + ": " + t.getMessage());
            }
        }
    };

    ErrorWatch() {
        julRoot.addHandler(julHandler);
        slf4jAppender.setContext(slf4jRoot.getLoggerContext());
        slf4jAppender.start();
        slf4jRoot.addAppender(slf4jAppender);
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> problems.add("uncaught in " + t.getName() + ": " + e));
    }

    private void note(String logger, String message, String thrown) {
        String name = logger == null ? "" : logger;
        if (name.startsWith("io.netty") || name.startsWith("io.grpc") || name.startsWith("io.nemu")) {
            problems.add(name + ": " + message + (thrown != null ? " " + thrown : ""));
        }
    }

    List<String> problems() {
        return List.copyOf(problems);
    }

    @Override
    public void close() {
        julRoot.removeHandler(julHandler);
        slf4jRoot.detachAppender(slf4jAppender);
        slf4jAppender.stop();
        Thread.setDefaultUncaughtExceptionHandler(previous);
    }
}
