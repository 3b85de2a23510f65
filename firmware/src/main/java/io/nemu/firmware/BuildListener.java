package io.nemu.firmware;

/** Progress of an image build, one call per step; the CLI prints them. */
@FunctionalInterface
public interface BuildListener {
    /**
     * @param step  1-based number of the step
     * @param total steps in this build (the up-to-date path ends early)
     * @param what  what is being done, e.g. "downloading linux-image-6.1.0-56-amd64 6.1.192-2"
     */
    void step(int step, int total, String what);

    BuildListener NONE = (step, total, what) -> { };
}
