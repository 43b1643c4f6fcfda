package android.content.pm;

/** Stand-in for android.content.pm.ApplicationInfo. */
public class ApplicationInfo {
    public String packageName;
    public String sourceDir;
}
