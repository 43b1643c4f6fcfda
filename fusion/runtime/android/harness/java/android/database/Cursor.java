package android.database;

/** Stand-in for android.database.Cursor (a ContentProvider signature type). */
public interface Cursor {
}
