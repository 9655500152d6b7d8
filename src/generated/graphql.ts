export type Maybe<T> = T | null;
export type InputMaybe<T> = T | null | undefined;
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  AWSDate: { input: string; output: string; }
  AWSDateTime: { input: string; output: string; }
  AWSEmail: { input: string; output: string; }
  AWSIPAddress: { input: string; output: string; }
  AWSJSON: { input: string; output: string; }
  AWSPhone: { input: string; output: string; }
  AWSTime: { input: string; output: string; }
  AWSTimestamp: { input: number; output: number; }
  AWSURL: { input: string; output: string; }
};

export type Mutation = {
  __typename?: 'Mutation';
  /** QUEUED or RETRYING: cancelled at once. RUNNING: its handler is told to stop and it ends CANCELLED. */
  cancelTask: Task;
  /** A signed URL to upload a file (an image, a CSV, an attachment) that tasks then name by its key. */
  createUploadUrl: Upload;
  /** Called by the update publisher for each committed change; drives onTaskUpdated. */
  publishTaskUpdate: Maybe<Task>;
  /** Run a FAILED or CANCELLED task again with fresh attempts (the dead-letter redrive). */
  retryTask: Task;
  /** Validate, store durably and enqueue one task. Returns at once with the QUEUED task. */
  submitTask: Task;
  /** Up to 25 tasks in one call; all are validated before any is stored. */
  submitTasks: Array<Task>;
};


export type MutationCancelTaskArgs = {
  id: Scalars['ID']['input'];
};


export type MutationCreateUploadUrlArgs = {
  contentType: Scalars['String']['input'];
  fileName?: InputMaybe<Scalars['String']['input']>;
};


export type MutationPublishTaskUpdateArgs = {
  input: TaskUpdateInput;
};


export type MutationRetryTaskArgs = {
  id: Scalars['ID']['input'];
};


export type MutationSubmitTaskArgs = {
  input: SubmitTaskInput;
};


export type MutationSubmitTasksArgs = {
  inputs: Array<SubmitTaskInput>;
};

export type Query = {
  __typename?: 'Query';
  queueStats: QueueStats;
  /** One task, or null when there is none with this id (or it expired). */
  task: Maybe<Task>;
  /** Tasks newest first, optionally filtered. limit 1..100 (default 20). */
  tasks: TaskConnection;
};


export type QueryTaskArgs = {
  id: Scalars['ID']['input'];
};


export type QueryTasksArgs = {
  filter?: InputMaybe<TaskFilter>;
  limit?: InputMaybe<Scalars['Int']['input']>;
  nextToken?: InputMaybe<Scalars['String']['input']>;
};

export type QueueStats = {
  __typename?: 'QueueStats';
  cancelled: Scalars['Int']['output'];
  failed: Scalars['Int']['output'];
  /** Age in seconds of the oldest task waiting to start whose start time has come; null when none waits. */
  oldestQueuedAgeSeconds: Maybe<Scalars['Float']['output']>;
  queued: Scalars['Int']['output'];
  retrying: Scalars['Int']['output'];
  running: Scalars['Int']['output'];
  succeeded: Scalars['Int']['output'];
  total: Scalars['Int']['output'];
};

export type SubmitTaskInput = {
  /** 0..900: the task does not start before this many seconds have passed. */
  delaySeconds?: InputMaybe<Scalars['Int']['input']>;
  /** A second submit with the same key within 24 hours returns the first task and creates nothing. */
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  /** 1..25; defaults per task type. */
  maxAttempts?: InputMaybe<Scalars['Int']['input']>;
  /** The task's input as a JSON string, validated against the type's payload schema. At most 256 KB. */
  payload: Scalars['AWSJSON']['input'];
  /** 1..900; defaults per task type. Past it the attempt fails (and is retried). */
  timeoutSeconds?: InputMaybe<Scalars['Int']['input']>;
  type: TaskType;
};

export type Subscription = {
  __typename?: 'Subscription';
  /** Every change of a task's status or progress. Each argument given filters events; none given means all tasks. */
  onTaskUpdated: Maybe<Task>;
};


export type SubscriptionOnTaskUpdatedArgs = {
  id?: InputMaybe<Scalars['ID']['input']>;
  status?: InputMaybe<TaskStatus>;
  type?: InputMaybe<TaskType>;
};

export type Task = {
  __typename?: 'Task';
  /** Attempts started so far. */
  attempts: Scalars['Int']['output'];
  /** True once cancelTask was called on a RUNNING task; it ends CANCELLED when its handler stops. */
  cancelRequested: Scalars['Boolean']['output'];
  createdAt: Scalars['AWSDateTime']['output'];
  error: Maybe<TaskError>;
  /** When a finished task is removed (retention). */
  expiresAt: Maybe<Scalars['AWSDateTime']['output']>;
  finishedAt: Maybe<Scalars['AWSDateTime']['output']>;
  id: Scalars['ID']['output'];
  idempotencyKey: Maybe<Scalars['String']['output']>;
  /** While RUNNING: the worker holds the task until then and renews it; past it, another worker takes over. */
  leaseExpiresAt: Maybe<Scalars['AWSDateTime']['output']>;
  maxAttempts: Scalars['Int']['output'];
  /**
   * The files the task wrote (from its result's outputs), each with a download URL valid for an hour.
   * Not carried by subscription events: query the task for it.
   */
  outputs: Maybe<Array<TaskOutput>>;
  /** The submitted payload. Not carried by subscription events (query the task for it). */
  payload: Scalars['AWSJSON']['output'];
  /** 0..1, reported by the handler. */
  progress: Maybe<Scalars['Float']['output']>;
  progressMessage: Maybe<Scalars['String']['output']>;
  /** What the handler returned, once SUCCEEDED. Left out of an event when larger than resultSize allows (see resultSize). */
  result: Maybe<Scalars['AWSJSON']['output']>;
  /** Size in bytes of the result as JSON. When an event has result null but resultSize > 0, query the task for it. */
  resultSize: Maybe<Scalars['Int']['output']>;
  /** The earliest time the task may (next) start: after delaySeconds, or after a retry's backoff. */
  runAt: Scalars['AWSDateTime']['output'];
  startedAt: Maybe<Scalars['AWSDateTime']['output']>;
  status: TaskStatus;
  timeoutSeconds: Scalars['Int']['output'];
  type: TaskType;
  updatedAt: Scalars['AWSDateTime']['output'];
  /** Grows by one on every change: a client drops any event whose version is not newer than what it has. */
  version: Scalars['Int']['output'];
};

export type TaskConnection = {
  __typename?: 'TaskConnection';
  items: Array<Task>;
  /** Pass to the next call to get the next page; null on the last page. */
  nextToken: Maybe<Scalars['String']['output']>;
};

/** Why the last attempt of a task failed. */
export type TaskError = {
  __typename?: 'TaskError';
  /** The attempt (1-based) that produced this error. */
  attempt: Maybe<Scalars['Int']['output']>;
  /** Stable machine-readable code, e.g. TIMEOUT, HANDLER_ERROR, INVALID_INPUT, NOT_IMPLEMENTED, WORKER_LOST. */
  code: Scalars['String']['output'];
  message: Scalars['String']['output'];
  /** False when retrying cannot help (a permanent error). */
  retryable: Scalars['Boolean']['output'];
};

export type TaskErrorInput = {
  attempt?: InputMaybe<Scalars['Int']['input']>;
  code: Scalars['String']['input'];
  message: Scalars['String']['input'];
  retryable: Scalars['Boolean']['input'];
};

export type TaskFilter = {
  status?: InputMaybe<TaskStatus>;
  type?: InputMaybe<TaskType>;
};

/** A file a task wrote. */
export type TaskOutput = {
  __typename?: 'TaskOutput';
  bytes: Maybe<Scalars['Int']['output']>;
  contentType: Maybe<Scalars['String']['output']>;
  key: Scalars['String']['output'];
  /** A signed URL to GET the file (a presigned S3 URL on AWS). */
  url: Maybe<Scalars['AWSURL']['output']>;
  urlExpiresAt: Maybe<Scalars['AWSDateTime']['output']>;
};

/**
 * Where a task is in its life. QUEUED, RUNNING and RETRYING are live; SUCCEEDED, FAILED and
 * CANCELLED are final. FAILED means attempts are exhausted (or the error was permanent) and
 * the task is parked in the dead-letter queue until retryTask redrives it.
 */
export type TaskStatus =
  | 'CANCELLED'
  | 'FAILED'
  | 'QUEUED'
  | 'RETRYING'
  | 'RUNNING'
  | 'SUCCEEDED';

/** The kinds of work the queue runs. Each has a payload schema and defaults. */
export type TaskType =
  | 'IMAGE_RESIZE'
  | 'PROCESS_DATA'
  | 'SEND_EMAIL'
  /** An example of your own type (src/task-types/custom/word-count.ts). */
  | 'WORD_COUNT';

/** What the update publisher sends for each committed change of a task. Not for apps. */
export type TaskUpdateInput = {
  attempts: Scalars['Int']['input'];
  cancelRequested: Scalars['Boolean']['input'];
  createdAt: Scalars['AWSDateTime']['input'];
  error?: InputMaybe<TaskErrorInput>;
  expiresAt?: InputMaybe<Scalars['AWSDateTime']['input']>;
  finishedAt?: InputMaybe<Scalars['AWSDateTime']['input']>;
  id: Scalars['ID']['input'];
  idempotencyKey?: InputMaybe<Scalars['String']['input']>;
  leaseExpiresAt?: InputMaybe<Scalars['AWSDateTime']['input']>;
  maxAttempts: Scalars['Int']['input'];
  progress?: InputMaybe<Scalars['Float']['input']>;
  progressMessage?: InputMaybe<Scalars['String']['input']>;
  result?: InputMaybe<Scalars['AWSJSON']['input']>;
  resultSize?: InputMaybe<Scalars['Int']['input']>;
  runAt: Scalars['AWSDateTime']['input'];
  startedAt?: InputMaybe<Scalars['AWSDateTime']['input']>;
  status: TaskStatus;
  timeoutSeconds: Scalars['Int']['input'];
  type: TaskType;
  updatedAt: Scalars['AWSDateTime']['input'];
  version: Scalars['Int']['input'];
};

/** Where to PUT a file that a task will read: send the bytes with the given Content-Type before expiresAt. */
export type Upload = {
  __typename?: 'Upload';
  /** The Content-Type header the PUT must carry. */
  contentType: Scalars['String']['output'];
  expiresAt: Scalars['AWSDateTime']['output'];
  /** The blob key to put in a task's payload. */
  key: Scalars['String']['output'];
  /** The largest body the URL accepts. */
  maxBytes: Scalars['Int']['output'];
  url: Scalars['AWSURL']['output'];
};
