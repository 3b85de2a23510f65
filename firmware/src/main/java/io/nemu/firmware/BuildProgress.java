package io.nemu.firmware;

/** Numbers the steps of one build for its {@link BuildListener}. */
final class BuildProgress {
    private final BuildListener listener;
    private int step;
    private int total;

    BuildProgress(BuildListener listener) {
        this.listener = listener;
    }

    /** A new build of {@code steps} steps. */
    void begin(int steps) {
        step = 0;
        total = steps;
    }

    void step(String what) {
        listener.step(++step, total, what);
    }

    /** Ends the build early (nothing left to do). */
    void finish(String what) {
        listener.step(total, total, what);
    }
}
