package io.nemu.ttrpc;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * Collects warnings and errors logged by Netty, gRPC and ttrpc (all log through java.util.logging
 * here) and uncaught exceptions, so a test can assert that nothing went wrong unseen.
 */
final class ErrorWatch implements AutoCloseable {
  private final List<String> problems = new CopyOnWriteArrayList<>();
  private final Logger root = Logger.getLogger("");
  private final Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
  private final Handler handler = new Handler() {
    @Override
    public void publish(LogRecord r) {
      String name = r.getLoggerName() == null ? "" : r.getLoggerName();
      if (r.getLevel().intValue() >= Level.WARNING.intValue()
          && (name.startsWith("io.netty") || name.startsWith("io.grpc") || name.startsWith("io.nemu"))) {
        problems.add(name + ": " + r.getMessage() + (r.getThrown() != null ? " " + r.getThrown() : ""));
      }
    }

    @Override
    public void flush() {}

    @Override
    public void close() {}
  };

  ErrorWatch() {
    root.addHandler(handler);
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> problems.add("uncaught in " + t.getName() + ": " + e));
  }

  List<String> problems() {
    return List.copyOf(problems);
  }

  @Override
  public void close() {
    root.removeHandler(handler);
    Thread.setDefaultUncaughtExceptionHandler(previous);
  }
}
